"""The installable package: `uv build` makes a wheel that serves the page and migrates a database on its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from scoreboard.embedded.process import free_port
from tests.fixtures.cli import wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "scoreboard"


def uv() -> str:
    """The uv that runs this suite (`uv run` names itself in $UV), else the project's pinned one."""
    found = os.environ.get("UV") or shutil.which("uv", path=str(ROOT / ".tools" / "bin")) or shutil.which("uv")
    if found is None:
        pytest.skip("no uv: ./scripts/test installs it into .tools/")
    return found


def run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; fail the test with its output if it fails."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def packaged(folder: str) -> set[str]:
    """The wheel paths the files under src/scoreboard/<folder> must have (compiled files aside)."""
    return {
        f"scoreboard/{path.relative_to(PACKAGE).as_posix()}"
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def install(uv: str, wheel: Path, venv: Path, requirements: Path) -> None:
    """Install the wheel and its locked dependencies into `venv`: from uv's cache alone if it can, else the index."""
    command = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "-r", str(requirements), str(wheel)]
    offline = subprocess.run([*command, "--offline"], capture_output=True, text=True, timeout=120, check=False)
    if offline.returncode != 0:
        run(*command, timeout=300)


def test_the_wheel_carries_the_page_and_migrations_and_serves_from_a_fresh_venv(data_dir: Path) -> None:
    """Build, install into a new venv with the locked dependencies, serve on embedded servers: ready, page served."""
    tool = uv()
    # Beside the data folder, not under pytest's tmp_path: as root, the embedded PostgreSQL's OS user must reach the
    # venv's PostgreSQL binaries, and pytest keeps its own temp folders closed to other users.
    work = data_dir.parent
    run(tool, "build", "--wheel", "--out-dir", str(work / "dist"), str(ROOT))
    (wheel,) = (work / "dist").glob("scoreboard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert packaged("web/static") <= names
    assert packaged("migrations") <= names
    assert "scoreboard/web/live.md" in names  # /docs/live, from docs/live.md
    assert "scoreboard/migrations/versions/0001_seed_schema.py" in names

    requirements = work / "requirements.txt"
    run(tool, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "-q", "-o", str(requirements))
    venv = work / "venv"
    run(tool, "venv", "-q", "--python", sys.executable, str(venv))
    install(tool, wheel, venv, requirements)
    # Imported from the venv's own copy, not from this checkout.
    location = run(str(venv / "bin" / "python"), "-c", "import scoreboard; print(scoreboard.__file__)", cwd=work)
    assert Path(location.stdout.strip()).is_relative_to(venv)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOREBOARD_", "VIRTUAL_ENV", "PYTHON"))}
    env["SCOREBOARD_DATA_DIR"] = str(data_dir)
    port = free_port()
    log = work / "serve.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [str(venv / "bin" / "scoreboard"), "serve", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(proc, port, log, timeout=90)
        page = httpx.get(f"{base}/", timeout=10)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.text == (PACKAGE / "web" / "static" / "index.html").read_text()
        assert httpx.get(f"{base}/static/app.js", timeout=10).status_code == 200
        live = httpx.get(f"{base}/docs/live", timeout=10)
        assert live.status_code == 200
        assert "<h1>Live board: SSE and WebSocket streams</h1>" in live.text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
