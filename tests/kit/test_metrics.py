"""GET /metrics: behind its token, and the counters an operator watches move when the service does something."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from scoreboard.cli import main as cli
from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.kit import metrics
from scoreboard.kit.problems import store_of
from scoreboard.leaderboard import keys
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event
from tests.fixtures import factories
from tests.fixtures.accounts import Account, player
from tests.fixtures.apps import Running, running
from tests.fixtures.documented import Documented, undocumented_report
from tests.fixtures.metrics import AUTH, METRICS_TOKEN, Scrape, parse, scrape
from tests.fixtures.polling import eventually
from tests.fixtures.problems import assert_problem
from tests.fixtures.served import Service, served_env
from tests.fixtures.streams import serving, sse

REQUESTS = "scoreboard_http_request_duration_seconds_count"


def metered_settings(settings: Settings, **overrides: object) -> Settings:
    """`settings` with /metrics served (model_copy does not validate: the token must already be a SecretStr)."""
    return settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN), **overrides})


@pytest.fixture
async def metered(settings: Settings) -> AsyncIterator[tuple[Running, httpx.AsyncClient]]:
    """An app with /metrics served (4 awards a minute per player), and a client held to the OpenAPI document."""
    async with running(metered_settings(settings, score_rate_limit=4)) as app:
        documented = Documented(app, app.app)
        transport = httpx.ASGITransport(app=documented, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield app, http
        assert not documented.undocumented, undocumented_report(documented.undocumented)


async def award(http: httpx.AsyncClient, account: Account, action: str, key: str | None = None) -> httpx.Response:
    """POST one award as `account`."""
    headers = {**account.headers, **({"Idempotency-Key": key} if key else {})}
    return await http.post("/api/scores", json={"actionId": action}, headers=headers)


async def test_metrics_is_a_404_while_no_token_is_set(client: httpx.AsyncClient) -> None:
    """Unset, the endpoint does not exist, whatever the request carries."""
    assert_problem(await client.get("/metrics"), 404)
    assert_problem(await client.get("/metrics", headers=AUTH), 404)
    assert_problem(await client.get("/metrics", headers={"Authorization": "Bearer "}), 404)


def test_a_blank_token_leaves_metrics_off() -> None:
    """An empty variable is no token (else `Bearer ` would open the endpoint)."""
    assert Settings(metrics_token="  ").metrics_token is None  # type: ignore[arg-type]


async def test_metrics_answers_only_the_token(metered: tuple[Running, httpx.AsyncClient]) -> None:
    """No token, another token, another scheme or the token with more: 401 with a bearer challenge."""
    _, http = metered
    refused = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": METRICS_TOKEN},
    ]
    for headers in refused:
        response = await http.get("/metrics", headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    accepted = await scrape(http)
    assert accepted.labels_of("scoreboard_db_pool_max_connections") == [{}]
    assert (await http.get("/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"})).status_code == 200
    assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]


async def test_awards_refusals_and_replays_move_their_counters(
    metered: tuple[Running, httpx.AsyncClient], db: asyncpg.Connection
) -> None:
    """An award, its replay, a cooldown refusal and a rate-limit refusal each count where they should."""
    _, http = metered
    await db.execute("INSERT INTO actions (id, name, points, cooldown_seconds) VALUES ('chest', 'Chest', 5, 3600)")
    await db.execute(
        "INSERT INTO boards (id, name, period, action_ids) VALUES ('chests', 'Chests', 'daily', '{chest}')"
    )
    account = await player(http)
    before = await scrape(http)

    key = str(uuid4())
    assert (await award(http, account, "complete-quest", key)).status_code == 201
    replayed = await award(http, account, "complete-quest", key)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (201, "true")
    assert (await award(http, account, "chest")).status_code == 201
    assert assert_problem(await award(http, account, "chest"), 429)["reason"] == "cooldown"
    assert "reason" not in assert_problem(await award(http, account, "chest"), 429)  # the 5th within the minute

    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("scoreboard_awards_total", action="complete-quest") == 1
    assert moved("scoreboard_awards_total", action="chest") == 1
    assert moved("scoreboard_board_awards_total", board="global") == 2
    assert moved("scoreboard_board_awards_total", board="chests") == 1
    assert moved("scoreboard_idempotent_replays_total") == 1
    assert moved("scoreboard_refusals_total", reason="cooldown") == 1
    assert moved("scoreboard_refusals_total", reason="rate_limit") == 1
    assert moved(REQUESTS, route="/api/scores", method="POST", status="201") == 3
    assert moved(REQUESTS, route="/api/scores", method="POST", status="429") == 2


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    metered: tuple[Running, httpx.AsyncClient],
) -> None:
    """Ids in paths become the route's template; a path no route matches is `unmatched`."""
    _, http = metered
    account = await player(http)
    missing = uuid4()
    before = await scrape(http)
    assert (await http.get(f"/api/users/{account.id}")).status_code == 200
    assert_problem(await http.get(f"/api/users/{missing}"), 404)
    assert_problem(await http.get(f"/no/such/{missing}"), 404)
    assert (await http.request("BREW", "/healthz")).status_code == 405
    after = await scrape(http)

    def moved(**labels: str) -> float:
        return after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels)

    assert moved(route="/api/users/{user_id}", method="GET", status="200") == 1
    assert moved(route="/api/users/{user_id}", method="GET", status="404") == 1
    assert moved(route="unmatched", method="GET", status="404") == 1
    assert moved(route="/healthz", method="other", status="405") == 1  # invented methods cannot grow the series
    assert after.value("scoreboard_http_request_duration_seconds_bucket", route="/healthz", method="other",
                       status="405", le="+Inf") >= 1  # fmt: skip
    routes = {labels["route"] for labels in after.labels_of(REQUESTS)}
    assert not [route for route in routes if str(account.id) in route or str(missing) in route]


async def test_pool_gauges_describe_the_pool_at_scrape_time(
    metered: tuple[Running, httpx.AsyncClient], settings: Settings
) -> None:
    """Open, idle and the most the pool may open, read from the pool when scraped."""
    app, http = metered
    await player(http)  # uses PostgreSQL, so the pool has opened a connection
    pool = app.state["pool"]
    scraped = await scrape(http)
    assert scraped.value("scoreboard_db_pool_max_connections") == settings.db_pool_max_size
    assert scraped.value("scoreboard_db_pool_connections") == pool.get_size() >= 1
    assert 0 <= scraped.value("scoreboard_db_pool_idle_connections") <= pool.get_size()


async def test_live_streams_open_and_events_sent(metered: tuple[Running, httpx.AsyncClient]) -> None:
    """The open-streams gauge follows a stream's life; an award's event counts once per stream it went to."""
    app, http = metered
    hub = app.state["hub"]
    await asyncio.wait_for(hub.subscribed.wait(), 10)
    await eventually(lambda: app.state["redis"].exists(keys.BUILT), within=10)  # events are published once built
    account = await player(http)
    async with serving(app) as base:
        async with sse(base) as stream:
            await stream.until("snapshot")
            during = await scrape(http)
            assert during.value("scoreboard_live_streams") == 1
            assert (await award(http, account, "complete-quest")).status_code == 201
            await stream.until("score_update")
            after = await scrape(http)
            sent = "scoreboard_live_events_sent_total"
            assert after.value(sent) - during.value(sent) == 1

        async def closed() -> bool:
            return (await scrape(http)).value("scoreboard_live_streams") == 0

        await eventually(closed)


async def test_conflations_and_stalled_streams_are_counted() -> None:
    """A client whose queue overflows is conflated; one whose writes stall is dropped: each counts once."""
    conflated, dropped = metrics.LIVE_CONFLATED._value.get(), metrics.LIVE_DROPPED._value.get()  # type: ignore[attr-defined]
    stuck = asyncio.Event()

    async def send(message: object) -> None:
        await stuck.wait()  # a socket that never takes the write

    async def snapshot() -> Event:
        return Event.build("snapshot", 1)

    lagging = Client(kind="sse", send=send, limit=10, limits=Limits(1, 0.05, 60, 1000), snapshot=snapshot)
    lagging.push(Event.build("score_update", 2))  # still backlogged (not started): queued
    lagging.push(Event.build("score_update", 3))  # the queue of 1 is full: conflated to a snapshot
    assert metrics.LIVE_CONFLATED._value.get() == conflated + 1  # type: ignore[attr-defined]

    lagging.start(None, None)  # sends the snapshot, which never goes out within the stall timeout

    async def gone() -> bool:
        return bool(metrics.LIVE_DROPPED._value.get() == dropped + 1)  # type: ignore[attr-defined]

    await eventually(gone)


async def test_reconciler_repairs_and_rebuilds_are_counted(settings: Settings, db: asyncpg.Connection) -> None:
    """An award Redis never saw is one repair when a pass raises it; a board Redis lost is one rebuild."""
    async with (
        running(metered_settings(settings, reconcile_interval_seconds=0.2)) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        redis = app.state["background_redis"]
        user = await factories.create_user(db)

        async def on_board() -> bool:
            return await redis.zscore(keys.BOARD, str(user)) is not None

        await eventually(on_board, within=10)  # the reconciler added the new user
        before = await scrape(http)

        async def moved(name: str, by: int) -> bool:
            return (await scrape(http)).value(name) - before.value(name) == by

        score = await factories.award(db, user, "complete-quest")  # in PostgreSQL only: Redis missed it
        await eventually(lambda: moved("scoreboard_board_repairs_total", 1), within=10)
        assert await redis.zscore(keys.BOARD, str(user)) == score
        await redis.delete(keys.BUILT)  # Redis lost the board
        await eventually(lambda: moved("scoreboard_board_rebuilds_total", 1), within=10)
        await asyncio.sleep(0.5)  # a few more passes: nothing more to repair
        assert (await scrape(http)).value("scoreboard_board_repairs_total") - before.value(
            "scoreboard_board_repairs_total"
        ) == 1


async def test_store_errors_are_counted_by_store(settings: Settings) -> None:
    """A request that finds PostgreSQL down is a 503 counted under `postgresql`."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/scoreboard"
    async with (
        running(metered_settings(settings, database_url=dead)) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        before = await scrape(http)
        refused = await http.post("/api/auth/login", json={"login": "nobody", "password": "whatever it is"})
        assert_problem(refused, 503)
        after = await scrape(http)
    counter = "scoreboard_store_errors_total"
    assert after.value(counter, store="postgresql") - before.value(counter, store="postgresql") == 1


def test_store_of_names_the_store_by_error_or_by_where_it_was_raised() -> None:
    """Driver errors by type; a bare OSError or TimeoutError by the driver code it came through."""
    import redis.exceptions

    assert store_of(asyncpg.TooManyConnectionsError()) == "postgresql"
    assert store_of(redis.exceptions.ConnectionError()) == "redis"
    assert store_of(OSError("no route")) == "unknown"
    for module, store in (("redis.asyncio.connection", "redis"), ("asyncpg.connect_utils", "postgresql")):
        namespace = {"__name__": module}
        exec("def fail():\n    raise ConnectionRefusedError(111, 'refused')", namespace)  # a frame of `module`
        with pytest.raises(OSError) as raised:
            namespace["fail"]()  # type: ignore[operator]
        assert store_of(raised.value) == store


def test_the_command_line_does_not_import_prometheus_client_before_serve_sets_its_folder() -> None:
    """prometheus-client picks in-memory or file values when imported: `serve` must set the folder first."""
    code = "import sys, scoreboard.cli.main; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_given_metrics_folder_is_emptied_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A previous run's files would add its counts to this run's: they go, other files stay."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_12345.db").write_bytes(b"old")
    (folder / "README").write_text("not ours")
    monkeypatch.setenv(cli.METRICS_FOLDER, str(folder))
    with cli._metrics_folder(Settings(workers=2)):
        assert sorted(p.name for p in folder.iterdir()) == ["README"]


def test_workers_share_a_folder_only_while_serving_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several workers with a token: a fresh folder, removed afterwards; one worker or no token: none."""
    monkeypatch.delenv(cli.METRICS_FOLDER, raising=False)
    for quiet in (Settings(workers=1, metrics_token=METRICS_TOKEN), Settings(workers=2)):  # type: ignore[arg-type]
        with cli._metrics_folder(quiet):
            assert cli.METRICS_FOLDER not in cli.os.environ
    with cli._metrics_folder(Settings(workers=2, metrics_token=METRICS_TOKEN)):  # type: ignore[arg-type]
        folder = Path(cli.os.environ[cli.METRICS_FOLDER])
        assert folder.is_dir()
    assert not folder.exists()
    assert cli.METRICS_FOLDER not in cli.os.environ


@pytest.mark.slow
def test_serve_with_two_workers_reports_both_in_every_scrape(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    """Whichever worker answers a scrape, it counts every worker's requests and both pools."""
    service = Service(served_env(settings, data_dir, workers="2", metrics_token=METRICS_TOKEN), tmp_path, free_port())
    service.start()
    try:

        def scraped() -> Scrape:
            response = httpx.get(f"{service.base}/metrics", headers=AUTH, timeout=10)
            assert response.status_code == 200, response.text
            return parse(response.text)

        # Both workers refresh their pool gauges from start-up on: until then one of them is missing.
        deadline = time.monotonic() + 30
        while scraped().value("scoreboard_db_pool_max_connections") != 2 * settings.db_pool_max_size:
            assert time.monotonic() < deadline, "a worker never reported"
            time.sleep(0.2)
        for _ in range(40):  # a connection each: the kernel spreads them over the workers
            assert httpx.get(f"{service.base}/healthz", timeout=10).status_code == 200
        for _ in range(4):
            assert scraped().value(REQUESTS, route="/healthz", method="GET", status="200") == 40
    finally:
        service.stop()
