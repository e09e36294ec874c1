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
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

ADMIN = "demo-admin"
PLAYER_PREFIX = "demo-"
PLAYER_SECRET_FILE = "demo_player_password"  # noqa: S105 - a file name in the data folder, not a secret
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send localhost to a proxy
# The service hashes each new player's password (bcrypt, cost 12 by default), so set-up is bound by its cores: a few
# connections more than a small server's cores keep every core busy; more only queue.
SETUP_CONNECTIONS = 8
DRAIN_SECONDS = 10.0  # at the end of --duration, how long answers still on their way are waited for
# The page's board picker shows these next to the global board (all time); an existing one is left as it is.
DEMO_BOARDS = (
    {"id": "today", "name": "Today", "period": "daily", "description": "Points scored today (UTC)"},
    {"id": "this-week", "name": "This week", "period": "weekly", "description": "Points scored this week (UTC)"},
)


class ApiError(Exception):
    """The service answered with an error status."""

    def __init__(self, status: int, body: Any) -> None:
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.problem = body if isinstance(body, dict) else {}


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

    sent: int = 0
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
    """(id, username) of demo-000 .. demo-{count-1}: existing ones looked up, the missing ones created concurrently."""
    started = time.monotonic()
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

    pool = ThreadPoolExecutor(max_workers=SETUP_CONNECTIONS)
    try:
        for done, _ in enumerate(pool.map(create, missing), start=1):
            _progress(f"creating demo players: {done}/{len(missing)}")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C stops now, not after every queued sign-up
    _progress(
        f"{count} demo players ready in {time.monotonic() - started:.1f} s "
        f"({len(missing)} created, {count - len(missing)} already there)\n"
    )
    return [(found[name], name) for name in wanted]


def _boards(base: str, admin: dict[str, str]) -> list[str]:
    """Create the demo's daily and weekly boards unless they exist; return every active board's id."""
    for board in DEMO_BOARDS:
        try:
            call("POST", f"{base}/api/admin/boards", board, admin)
        except ApiError as exc:
            if exc.status != 409:  # 409: made by an earlier run
                raise
    return [b["id"] for b in call("GET", f"{base}/api/boards")["boards"]]


def _progress(line: str) -> None:
    sys.stderr.write("\r\x1b[2K" + line if sys.stderr.isatty() else line.rstrip() + "\n")
    sys.stderr.flush()


@dataclass
class Policies:
    """The actions' daily caps and cooldowns as the demo last saw them, so it does not ask for refused awards."""

    caps: dict[str, int]
    cooldowns: dict[str, float]
    counts: dict[tuple[str, str], tuple[date, int]] = field(default_factory=dict)  # (user, action): (UTC day, n)
    blocked: dict[tuple[str, str], float] = field(default_factory=dict)  # (user, action): wall clock when allowed
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, actions: list[dict[str, Any]]) -> Policies:
        """Read the policies from `GET /api/actions`."""
        return cls(
            caps={a["id"]: a["maxPerDay"] for a in actions if a.get("maxPerDay")},
            cooldowns={a["id"]: a["cooldownSeconds"] for a in actions if a.get("cooldownSeconds")},
        )

    def take(self, user_id: str, actions: list[str], now: float) -> str | None:
        """Reserve an action this user may be awarded now (counted as done), or None if none is allowed."""
        with self.lock:
            allowed = [a for a in actions if self.blocked.get((user_id, a), 0.0) <= now]
            if not allowed:
                return None
            action = random.choice(allowed)  # noqa: S311 - a demo, not a secret
            key = (user_id, action)
            if action in self.caps:
                day = datetime.fromtimestamp(now, UTC).date()
                seen_day, seen = self.counts.get(key, (day, 0))
                done = (seen if seen_day == day else 0) + 1
                self.counts[key] = (day, done)
                if done >= self.caps[action]:
                    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
                    self.blocked[key] = midnight.timestamp()
            if action in self.cooldowns:
                self.blocked[key] = max(self.blocked.get(key, 0.0), now + self.cooldowns[action])
            return action

    def refused(self, user_id: str, action: str, available_at: str) -> None:
        """Remember a refusal's `availableAt` (awards made before this demo ran count too)."""
        with self.lock:
            self.blocked[(user_id, action)] = datetime.fromisoformat(available_at).timestamp()


@dataclass(frozen=True)
class Plan:
    """Who gets awarded what: players (id, name) with weights, and the action ids to pick from."""

    base: str
    key: dict[str, str]
    players: list[tuple[str, str]]
    weights: list[float]
    actions: list[str]
    policies: Policies


def _pick(plan: Plan) -> tuple[str, str, str]:
    """A weighted random player and an action their policies allow now (any action if a few tries find none)."""
    for _ in range(20):
        user_id, name = random.choices(plan.players, plan.weights)[0]  # noqa: S311
        action = plan.policies.take(user_id, plan.actions, time.time())
        if action is not None:
            return user_id, name, action
    return user_id, name, random.choice(plan.actions)  # noqa: S311 - the service will say why not


def _award(plan: Plan, tally: Tally) -> None:
    user_id, name, action = _pick(plan)
    try:
        award = call("POST", f"{plan.base}/api/scores", {"actionId": action, "userId": user_id}, plan.key)
    except ApiError as exc:
        available_at = exc.problem.get("availableAt")
        if isinstance(available_at, str):
            plan.policies.refused(user_id, action, available_at)
        with tally.lock:
            if available_at or exc.status == 409:
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


def _run(plan: Plan, tally: Tally, rate: float, duration: float | None) -> float:
    """Send one award every 1/rate s, whatever the answers take (open loop); return the seconds spent sending."""
    # Threads start as needed: rate x latency of them are busy. Past two seconds' worth in flight the service is not
    # keeping up, and the schedule waits for it rather than piling up requests.
    in_flight = max(16, min(512, int(rate * 2)))
    pool, slots = ThreadPoolExecutor(max_workers=in_flight), threading.BoundedSemaphore(in_flight)
    pending: set[Future[None]] = set()
    lock = threading.Lock()

    def one() -> None:
        try:
            _award(plan, tally)
        finally:
            slots.release()

    def settled(future: Future[None]) -> None:
        with lock:
            pending.discard(future)

    started = time.monotonic()
    report_every = max(1, round(rate / 2))
    try:
        while duration is None or tally.sent / rate < duration:
            time.sleep(max(0.0, started + tally.sent / rate - time.monotonic()))
            slots.acquire()
            future = pool.submit(one)
            with lock:
                pending.add(future)
            future.add_done_callback(settled)
            tally.sent += 1
            if tally.sent % report_every == 0:
                _progress(_summary(tally, time.monotonic() - started, rate))
        window = max(duration or 0.0, time.monotonic() - started)  # more than --duration if the service lagged
        with lock:
            waiting = list(pending)
        wait_for(waiting, timeout=DRAIN_SECONDS)  # the last second's answers count, and the key outlives them
        return window
    except KeyboardInterrupt:
        return time.monotonic() - started
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _summary(tally: Tally, seconds: float, rate: float) -> str:
    """`N awards sent in S s (R/s of the asked rate): awarded, refused, failed, leader`."""
    return (
        f"{tally.sent:,} awards sent in {seconds:.1f} s ({tally.sent / max(seconds, 1e-9):.1f}/s of {rate:g}/s): "
        f"{tally.awarded:,} awarded, {tally.refused:,} refused by policy, {tally.failed:,} failed · "
        f"leader {tally.leader or '-'}"
    )


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
    typer.echo(f"boards: {', '.join(_boards(base, admin))}", err=True)
    created = call("POST", f"{base}/api/admin/api-keys", {"name": "scoreboard demo", "scopes": ["scores:write"]}, admin)
    tally, window = Tally(), 0.0
    try:
        catalog = [a for a in call("GET", f"{base}/api/actions") if a.get("isActive", True)]
        # A few players act far more often than the rest, so the top of the board changes hands visibly.
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(roster))]
        random.shuffle(weights)
        actions = [a["id"] for a in catalog]
        plan = Plan(base, {"X-API-Key": created["key"]}, roster, weights, actions, Policies.of(catalog))
        typer.echo(f"awarding {rate:g}/s to {len(roster)} players; open {base}/ to watch (Ctrl-C stops)", err=True)
        window = _run(plan, tally, rate, duration)  # the clock starts here: set-up is not part of --duration
    except KeyboardInterrupt:
        pass
    finally:
        _revoke(base, settings, created["id"])
    why = f" ({tally.last_error})" if tally.failed else ""
    _progress(f"done: {_summary(tally, window, rate)}{why}\n")
    if tally.failed and not tally.awarded:
        raise typer.Exit(1)
