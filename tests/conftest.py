"""Real PostgreSQL and Redis for every test: embedded by default, or the servers named in the environment.

- `SCOREBOARD_TEST_DATABASE_URL` (a database we may CREATE DATABASE from) and `SCOREBOARD_TEST_REDIS_URL`
  select running servers; otherwise the session starts its own embedded PostgreSQL and Valkey under the
  system temp folder.
- The schema is migrated once into a template database; each test gets a fresh clone of it and an
  empty Redis database.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard import migrate
from scoreboard.config import Settings
from scoreboard.embedded import EmbeddedServers
from tests.fixtures.apps import Running, running
from tests.fixtures.documented import Documented, undocumented_report
from tests.fixtures.servers import TEST_SECRET, Servers
from tests.fixtures.urls import with_database

# Fixtures for tests that start server processes (faults: servers a test may kill).
pytest_plugins = ["tests.fixtures.processes", "tests.fixtures.served", "tests.fixtures.faults"]


def _stop_abandoned_test_servers() -> None:
    """Stop embedded servers that killed test sessions left behind (their owner lock is free)."""
    import fcntl

    from scoreboard.embedded.postgres import EmbeddedPostgres
    from scoreboard.embedded.valkey import EmbeddedValkey

    for folder in Path(tempfile.gettempdir()).glob("scoreboard-test-*"):
        lock = folder / "owner.lock"
        if not lock.exists():
            continue
        with lock.open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live session owns it
            EmbeddedValkey(folder).stop_orphan()
            EmbeddedPostgres(folder).stop_orphan()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _claiming() -> Iterator[None]:
    """Sweep and claim folders one session at a time: pytest-xdist's workers start together, and a folder made but
    not yet locked by one would look abandoned to another."""
    import fcntl

    with (Path(tempfile.gettempdir()) / "scoreboard-test-claims.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Yield the session's servers, starting embedded ones unless URLs are given."""
    admin_url = os.environ.get("SCOREBOARD_TEST_DATABASE_URL")
    redis_url = os.environ.get("SCOREBOARD_TEST_REDIS_URL")
    if admin_url and redis_url:
        yield Servers(admin_url, redis_url, embedded=False)
        return
    with _claiming():
        _stop_abandoned_test_servers()
        folder = Path(tempfile.mkdtemp(prefix="scoreboard-test-"))
        embedded = EmbeddedServers(folder, postgres=admin_url is None, valkey=redis_url is None, durable=False)
        try:
            urls = embedded.start()  # takes the folder's owner lock
        except BaseException:
            embedded.stop()
            shutil.rmtree(folder, ignore_errors=True)
            raise
    try:
        if admin_url is None:
            assert embedded.postgres is not None
            admin_url = embedded.postgres.url("postgres")
        yield Servers(admin_url, redis_url or str(urls.redis_url), embedded=True)
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(servers: Servers) -> Iterator[str]:
    """Create a database migrated to head, to be cloned per test; yield its name."""
    import asyncio

    name = f"scoreboard_tpl_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(servers.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    migrate.upgrade(with_database(servers.admin_url, name))
    yield name
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_counter = itertools.count()


@pytest.fixture
async def database_url(servers: Servers, template_db: str) -> AsyncIterator[str]:
    """Yield the URL of a fresh, migrated database of this test's own."""
    name = f"scoreboard_t_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(servers.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        yield with_database(servers.admin_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_url(servers: Servers) -> AsyncIterator[str]:
    """Yield the Redis URL with its database emptied."""
    client = Redis.from_url(servers.redis_url)
    try:
        await client.flushdb()
        yield servers.redis_url
    finally:
        await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings for an app on this test's database and Redis."""
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=TEST_SECRET,
        data_dir=tmp_path / "data",
        bcrypt_rounds=4,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Running]:
    """Yield a started app (lifespan entered; each request gets its state)."""
    async with running(settings) as started:
        yield started


@pytest.fixture
async def client(app: Running) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an HTTP client talking to the app in-process; every answer must be one the OpenAPI document lists."""
    documented = Documented(app, app.app)
    transport = httpx.ASGITransport(app=documented, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
    assert not documented.undocumented, undocumented_report(documented.undocumented)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Yield a direct connection to this test's database."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """Yield a client on this test's (emptied) Redis database."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
