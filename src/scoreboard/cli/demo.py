"""`scoreboard demo`: demo players and a steady stream of awards through the real API, so the board visibly moves."""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

ADMIN = "demo-admin"
PLAYER_PREFIX = "demo-"
PLAYER_SECRET_FILE = "demo_player_password"  # noqa: S105 - a file name in the data folder, not a secret
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send localhost to a proxy


class ApiError(Exception):
    """The service answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"{status}: {detail}")
        self.status = status


def call(method: str, url: str, body: object = None, headers: dict[str, str] | None = None) -> Any:
    """One JSON request; errors raise ApiError with the problem's detail."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the operator's own service URL
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with _OPENER.open(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            problem = json.loads(raw)
        except ValueError:
            problem = raw[:200].decode(errors="replace")
        raise ApiError(exc.code, problem) from None
    return json.loads(raw) if raw else None


@dataclass
class Tally:
    """What the award loop did so far (updated from worker threads)."""

    awarded: int = 0
    refused: int = 0
    failed: int = 0
    last_error: str = ""
    leader: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _admin_token(base: str, settings: Settings) -> str:
    """Log in as the demo admin, creating it first (its password lives in the data folder)."""
    from scoreboard.cli.users import _create
    from scoreboard.embedded.process import read_or_create_secret
    from scoreboard.kit.problems import Conflict

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    password = read_or_create_secret(settings.data_dir / "demo_admin_password")
    try:
        call("POST", f"{base}/api/auth/login", {"login": ADMIN, "password": password})
    except ApiError:
        import asyncio

        with servers(settings, redis=False) as resolved, contextlib.suppress(Conflict):
            asyncio.run(_create(resolved, ADMIN, f"{ADMIN}@example.com", password))
    tokens = call("POST", f"{base}/api/auth/login", {"login": ADMIN, "password": password})
    return str(tokens["accessToken"])


def _players(base: str, admin: dict[str, str], count: int, password: str) -> list[tuple[str, str]]:
    """(id, username) of demo-000 .. demo-{count-1}, creating the missing ones through the admin API."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        page = call("GET", f"{base}/api/admin/users?q={PLAYER_PREFIX}&limit=100&offset={offset}", headers=admin)
        found.update({u["username"]: u["id"] for u in page["items"] if u["username"].startswith(PLAYER_PREFIX)})
        offset += 100
        if offset >= page["total"]:
            break
    wanted = [f"{PLAYER_PREFIX}{n:03d}" for n in range(count)]
    missing = [name for name in wanted if name not in found]

    def create(name: str) -> None:
        body = {"username": name, "email": f"{name}@example.com", "password": password}
        found[name] = call("POST", f"{base}/api/admin/users", body, admin)["id"]

    pool = ThreadPoolExecutor(max_workers=4)  # registration hashes passwords: a few at a time
    try:
        for done, _ in enumerate(pool.map(create, missing), start=1):
            _progress(f"creating demo players: {done}/{len(missing)}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C stops now, not after every queued sign-up
    if missing:
        _progress(f"created {len(missing)} demo players ({count - len(missing)} already there)\n")
    return [(found[name], name) for name in wanted]


def _progress(line: str) -> None:
    sys.stderr.write("\r\x1b[2K" + line if sys.stderr.isatty() else line.rstrip() + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class Plan:
    """Who gets awarded what: players (id, name) with weights, and the action ids to pick from."""

    base: str
    key: dict[str, str]
    players: list[tuple[str, str]]
    weights: list[float]
    actions: list[str]


def _award(plan: Plan, tally: Tally) -> None:
    (user_id, name), action = random.choices(plan.players, plan.weights)[0], random.choice(plan.actions)  # noqa: S311
    base, key = plan.base, plan.key
    try:
        award = call("POST", f"{base}/api/scores", {"actionId": action, "userId": user_id}, key)
    except ApiError as exc:
        with tally.lock:
            if exc.status in (409, 429):
                tally.refused += 1  # a policy said no (daily-login twice, a cooldown): that is the point
            else:
                tally.failed += 1
                tally.last_error = str(exc)
        return
    except OSError as exc:
        with tally.lock:
            tally.failed += 1
            tally.last_error = str(exc)
        return
    with tally.lock:
        tally.awarded += 1
        if award.get("rank") == 1:
            tally.leader = f"{name} {award['newScore']:,}"


def _run(plan: Plan, tally: Tally, rate: float, duration: float | None, started: float) -> None:
    """Submit awards at `rate` per second, never more than a few in flight (a slow service slows the demo down)."""
    workers = max(4, min(64, int(rate // 5) + 4))
    pool, slots = ThreadPoolExecutor(max_workers=workers), threading.BoundedSemaphore(workers * 2)

    def one() -> None:
        try:
            _award(plan, tally)
        finally:
            slots.release()

    try:
        sent = 0
        while duration is None or time.monotonic() - started < duration:
            slots.acquire()
            pool.submit(one)
            sent += 1
            elapsed = time.monotonic() - started
            if sent % max(1, int(rate / 2)) == 0:
                _progress(
                    f"awards {tally.awarded:,} ({tally.awarded / max(elapsed, 1e-9):.1f}/s) · refused "
                    f"{tally.refused:,} · failed {tally.failed:,} · leader {tally.leader or '-'}"
                )
            time.sleep(max(0.0, started + sent / rate - time.monotonic()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _revoke(base: str, settings: Settings, key_id: str) -> None:
    """Revoke the demo's key with a fresh admin token (a long run outlives the first); say so if it cannot be."""
    try:
        admin = {"Authorization": f"Bearer {_admin_token(base, settings)}"}
        call("DELETE", f"{base}/api/admin/api-keys/{key_id}", headers=admin)
    except (ApiError, OSError) as exc:
        _progress(
            f"warning: could not revoke the demo's API key {key_id} ({exc}); revoke it with "
            f"DELETE /api/admin/api-keys/{key_id} once the service is back\n"
        )


def demo(
    players: Annotated[int, typer.Option(min=1, max=10_000, help="Demo players (demo-000 ...)")] = 200,
    rate: Annotated[float, typer.Option(min=0.1, max=1000, help="Awards per second")] = 20.0,
    duration: Annotated[float | None, typer.Option(min=1, help="Seconds to run [default: until Ctrl-C]")] = None,
    url: Annotated[
        str | None, typer.Option(help="The running service [default: http://HOST:PORT from settings]")
    ] = None,
) -> None:
    """Create demo players through the API and award random actions at a steady rate (Ctrl-C stops)."""
    settings = Settings()
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/")
    try:
        call("GET", f"{base}/readyz")
    except (ApiError, OSError) as exc:
        typer.echo(f"error: the service at {base} is not ready ({exc}); start it with ./scripts/run", err=True)
        raise typer.Exit(1) from exc
    from scoreboard.embedded.process import read_or_create_secret

    admin = {"Authorization": f"Bearer {_admin_token(base, settings)}"}
    roster = _players(base, admin, players, read_or_create_secret(settings.data_dir / PLAYER_SECRET_FILE))
    created = call("POST", f"{base}/api/admin/api-keys", {"name": "scoreboard demo", "scopes": ["scores:write"]}, admin)
    tally, started = Tally(), time.monotonic()
    try:
        actions = [a["id"] for a in call("GET", f"{base}/api/actions")]
        # A few players act far more often than the rest, so the top of the board changes hands visibly.
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(roster))]
        random.shuffle(weights)
        plan = Plan(base, {"X-API-Key": created["key"]}, roster, weights, actions)
        typer.echo(f"awarding {rate:g}/s to {len(roster)} players; open {base}/ to watch (Ctrl-C stops)", err=True)
        _run(plan, tally, rate, duration, started)
    except KeyboardInterrupt:
        pass
    finally:
        _revoke(base, settings, created["id"])
    elapsed = time.monotonic() - started
    why = f": {tally.last_error}" if tally.failed else ""
    _progress(
        f"done: {tally.awarded:,} awards in {elapsed:.0f} s ({tally.awarded / max(elapsed, 1e-9):.1f}/s), "
        f"{tally.refused:,} refused by policy, {tally.failed:,} failed{why}\n"
    )
    if tally.failed and not tally.awarded:
        raise typer.Exit(1)
