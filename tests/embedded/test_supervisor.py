"""The embedded servers' lifecycle on one data folder: start, stop, restart, orphans, attach."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from scoreboard.embedded import EmbeddedServers, EmbeddedUrls
from tests.fixtures.processes import alive, servers_on, sql

pytestmark = pytest.mark.slow

# Run as a separate process so the test can SIGKILL it like a crashed `scoreboard serve`.
OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from scoreboard.embedded import EmbeddedServers
servers = EmbeddedServers(Path(sys.argv[1]))
servers.start()
print(servers.postgres.running_pid(), servers.valkey.running_pid(), flush=True)
time.sleep(600)
"""


def server_pids(folder: Path) -> tuple[int, int]:
    """Return the pids the postmaster and Valkey wrote into `folder`."""
    postmaster = int((folder / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
    return postmaster, int((folder / "valkey" / "valkey.pid").read_text())


def wait_dead(pids: tuple[int, ...], timeout: float = 10) -> bool:
    """Wait until none of `pids` is alive; return whether that happened in time."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def redis_client(urls: EmbeddedUrls) -> Redis:
    """Return a client on the embedded Valkey (its URL carries the password)."""
    assert urls.redis_url is not None
    assert urls.redis_url.startswith("redis://:")
    return Redis.from_url(urls.redis_url, decode_responses=True)


def assert_stopped(folder: Path, pids: tuple[int, ...]) -> None:
    """Assert `pids` are dead and no server process refers to `folder`."""
    assert wait_dead(pids), f"still alive: {[pid for pid in pids if alive(pid)]}"
    assert servers_on(folder) == []


def test_start_serves_stop_leaves_nothing_and_data_survives_restart(data_dir: Path) -> None:
    """Start, use, stop and restart the servers on one folder."""
    first = EmbeddedServers(data_dir)
    urls = first.start()
    try:
        assert urls.database_url is not None
        assert sql(urls.database_url, "SELECT 1") == 1
        with redis_client(urls) as client:
            assert client.ping() is True
            client.set("kept", "yes")
        sql(urls.database_url, "CREATE TABLE kept (value text)")
        sql(urls.database_url, "INSERT INTO kept VALUES ('row')")
        pids = server_pids(data_dir)
        # Proves servers_on() sees these servers, so its empty answer after stop() means something.
        assert set(pids) <= {proc.pid for proc in servers_on(data_dir)}
    finally:
        first.stop()
    assert_stopped(data_dir, pids)
    assert not (data_dir / "runtime.json").exists()

    second = EmbeddedServers(data_dir)
    urls = second.start()
    try:
        assert urls.database_url is not None
        assert sql(urls.database_url, "SELECT value FROM kept") == "row"
        with redis_client(urls) as client:
            assert client.get("kept") == "yes"
        pids = server_pids(data_dir)
    finally:
        second.stop()
    assert_stopped(data_dir, pids)


def test_orphans_of_a_killed_owner_are_stopped_and_data_kept(data_dir: Path) -> None:
    """Replace the servers a SIGKILLed owner left running, never running two on one folder."""
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = owner.stdout.readline() if owner.stdout else ""
        if not line:
            pytest.fail(f"the owner did not start its servers: {owner.communicate(timeout=10)[1]}")
        old = tuple(int(pid) for pid in line.split())
        old_urls = json.loads((data_dir / "runtime.json").read_text())
        sql(old_urls["database_url"], "CREATE TABLE kept (value text)")
        sql(old_urls["database_url"], "INSERT INTO kept VALUES ('before the crash')")
        with Redis.from_url(old_urls["redis_url"], decode_responses=True) as client:
            client.set("kept", "yes")
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.communicate(timeout=10)
    assert all(alive(pid) for pid in old), "the killed owner's servers should have outlived it"

    servers = EmbeddedServers(data_dir)
    urls = servers.start()
    try:
        assert not servers.attached
        assert wait_dead(old), f"orphans still alive: {[pid for pid in old if alive(pid)]}"
        new = server_pids(data_dir)
        assert set(new).isdisjoint(old)
        # Exactly one postmaster and one Valkey on the folder: the new ones.
        assert {p.pid for p in servers_on(data_dir) if p.ppid() not in new} == set(new)
        assert urls.database_url is not None
        assert sql(urls.database_url, "SELECT value FROM kept") == "before the crash"
        with redis_client(urls) as client:
            assert client.get("kept") == "yes"
    finally:
        servers.stop()
    assert_stopped(data_dir, new)


def test_second_instance_attaches_and_leaves_the_owner_running(data_dir: Path) -> None:
    """Attach to a live owner's servers and leave them running on stop()."""
    owner = EmbeddedServers(data_dir)
    urls = owner.start()
    try:
        pids = server_pids(data_dir)
        guest = EmbeddedServers(data_dir)
        assert guest.start() == urls
        assert guest.attached is True
        assert guest.urls == urls
        guest.stop()
        assert all(alive(pid) for pid in pids)
        assert urls.database_url is not None
        assert sql(urls.database_url, "SELECT 1") == 1
        with redis_client(urls) as client:
            assert client.ping() is True
        assert json.loads((data_dir / "runtime.json").read_text())["pid"] == os.getpid()
    finally:
        owner.stop()
    assert_stopped(data_dir, pids)


def test_stale_runtime_file_without_owner_is_ignored(data_dir: Path) -> None:
    """Start own servers when runtime.json and owner.lock name an owner that is gone."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = {
        "pid": gone.pid,
        "database_url": "postgresql://postgres:stale@127.0.0.1:1/scoreboard",
        "redis_url": "redis://:stale@127.0.0.1:1/0",
    }
    data_dir.mkdir(parents=True)
    (data_dir / "runtime.json").write_text(json.dumps(stale))
    (data_dir / "owner.lock").write_text(f"{gone.pid}\n")

    servers = EmbeddedServers(data_dir)
    urls = servers.start()
    try:
        assert not servers.attached
        assert urls.database_url != stale["database_url"]
        assert urls.redis_url != stale["redis_url"]
        assert urls.database_url is not None
        assert sql(urls.database_url, "SELECT 1") == 1
        runtime = json.loads((data_dir / "runtime.json").read_text())
        assert runtime == {"pid": os.getpid(), "database_url": urls.database_url, "redis_url": urls.redis_url}
        pids = server_pids(data_dir)
    finally:
        servers.stop()
    assert_stopped(data_dir, pids)
    assert not (data_dir / "runtime.json").exists()
