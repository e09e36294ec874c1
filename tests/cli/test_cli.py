"""The `scoreboard` command line, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from scoreboard import __version__, migrate
from scoreboard.cli import main
from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from tests.fixtures.cli import SCOREBOARD, cli_env, wait_ready
from tests.fixtures.processes import alive, servers_on, sql
from tests.fixtures.servers import Servers
from tests.fixtures.urls import with_database

HELP_CASES = [
    (["--help"], "real-time leaderboard API"),
    (["version"], __version__),
    (["serve", "--help"], "Run the API"),
    (["db", "--help"], "schema migrations"),
    (["db", "upgrade", "--help"], "Apply migrations up to REVISION"),
    (["db", "downgrade", "--help"], "Revert migrations down to REVISION"),
    (["db", "current", "--help"], "Print the revision the database is at"),
]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard ARGS` to completion."""
    return subprocess.run([SCOREBOARD, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def help_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run every help and version command at once (each start imports the whole CLI, which is slow)."""
    folder = tmp_path_factory.mktemp("help")
    procs = {
        " ".join(args): subprocess.Popen(
            [SCOREBOARD, *args], env=cli_env(folder / "data"), cwd=folder, stdout=subprocess.PIPE, text=True
        )
        for args, _ in HELP_CASES
    }
    outputs = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate(timeout=120)
        outputs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout)
    return outputs


@pytest.mark.parametrize(("args", "purpose"), HELP_CASES, ids=[" ".join(args) for args, _ in HELP_CASES])
def test_help_and_version(
    help_outputs: dict[str, subprocess.CompletedProcess[str]], args: list[str], purpose: str
) -> None:
    """Exit 0 and state what the command is for."""
    result = help_outputs[" ".join(args)]
    assert result.returncode == 0
    assert purpose in result.stdout


def test_db_upgrade_current_downgrade_cycle(servers: Servers, tmp_path: Path) -> None:
    """Migrate a scratch database up, down to base and up again."""
    name = f"scoreboard_cli_{os.getpid()}"
    url = with_database(servers.admin_url, name)
    (head,) = migrate.head_revisions()
    sql(servers.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sql(servers.admin_url, f'CREATE DATABASE "{name}"')
    env = cli_env(tmp_path / "data", database_url=url)
    try:
        for args, printed in [
            (["upgrade"], None),
            (["current"], f"{head} (head)"),
            (["downgrade", "base"], None),
            (["current"], ""),
            (["upgrade"], None),
        ]:
            result = run_cli("db", *args, env=env, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            if printed is not None:
                assert result.stdout.strip() == printed
        # Checked in SQL rather than with one more `db current`: each CLI start costs seconds.
        assert sql(url, "SELECT version_num FROM alembic_version") == head
        assert sql(url, "SELECT count(*) FROM actions") > 0
    finally:
        sql(servers.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    # A configured URL means no embedded server was started for these commands.
    assert not (tmp_path / "data" / "postgres").exists()


ServeFactory = Callable[..., tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def serve(data_dir: Path, tmp_path: Path) -> Iterator[ServeFactory]:
    """Yield a launcher of `scoreboard serve` (working dir and logs in tmp_path) that waits until ready."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(*args: str) -> tuple[subprocess.Popen[bytes], Path]:
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        with log.open("wb") as stderr:
            # A file, not a pipe: nobody reads while the server runs, and a full pipe would block it.
            proc = subprocess.Popen(
                [SCOREBOARD, "serve", "--port", str(port), *args],
                env=cli_env(data_dir),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started.append(proc)
        wait_ready(proc, port, log)
        return proc, log

    yield launch
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_and_check(proc: subprocess.Popen[bytes], sig: signal.Signals, data_dir: Path) -> None:
    """Send `sig`; the process must exit cleanly within 30 s, leaving no server and no child behind."""
    children = [child.pid for child in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(sig)
    # uvicorn re-raises the signal it shut down on; the CLI turns SIGTERM into exit status 128 + 15.
    assert proc.wait(timeout=30) in (0, 128 + sig)
    assert servers_on(data_dir) == []
    # multiprocessing's resource tracker (spawned for --workers) exits on its own just after its parent.
    deadline = time.monotonic() + 10
    while [pid for pid in children if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    assert not (data_dir / "runtime.json").exists()


@pytest.mark.slow
def test_serve_with_no_configuration_runs_stops_and_keeps_data(serve: ServeFactory, data_dir: Path) -> None:
    """Serve on embedded servers, stop on Ctrl-C, serve again and stop on SIGTERM, data kept."""
    proc, log = serve()
    runtime = json.loads((data_dir / "runtime.json").read_text())
    assert runtime["pid"] == proc.pid
    sql(runtime["database_url"], "INSERT INTO actions (id, name, points) VALUES ('cli_kept', 'Kept', 7)")
    stop_and_check(proc, signal.SIGINT, data_dir)

    text = log.read_text()
    assert str(data_dir) in text
    assert "postgresql://postgres:***@127.0.0.1:" in text
    assert "redis://:***@127.0.0.1:" in text
    for secret in ("postgres.password", "valkey.password"):
        assert (data_dir / secret).read_text().strip() not in text

    proc, _ = serve()
    runtime = json.loads((data_dir / "runtime.json").read_text())
    assert sql(runtime["database_url"], "SELECT points FROM actions WHERE id = 'cli_kept'") == 7
    stop_and_check(proc, signal.SIGTERM, data_dir)


@pytest.mark.slow
def test_serve_with_two_workers_comes_up_and_stops_cleanly(serve: ServeFactory, data_dir: Path) -> None:
    """Serve with two worker processes and stop them all on SIGTERM."""
    proc, _ = serve("--workers", "2")
    assert len(psutil.Process(proc.pid).children()) >= 2
    stop_and_check(proc, signal.SIGTERM, data_dir)


@pytest.mark.parametrize(
    ("level", "asked", "made"),
    [
        ("DEBUG", True, True),
        ("INFO", True, True),
        ("WARNING", True, False),
        ("ERROR", True, False),
        ("INFO", False, False),
    ],
)
def test_serve_makes_access_lines_only_when_they_are_printed(level: str, asked: bool, made: bool) -> None:
    """uvicorn formats an access line before the level drops it: `serve` asks for none the level would drop."""
    assert main._access_log(Settings(log_level=level, access_log=asked)) is made
