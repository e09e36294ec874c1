"""`scoreboard analytics top-actions|daily|growth|top-performers` print the API's reports as tables or CSV."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.fixtures.cli import run_scoreboard
from tests.fixtures.factories import award, create_user


def analytics(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard analytics ...` on `database_url`."""
    return run_scoreboard("analytics", *args, data_dir=tmp_path, database_url=database_url)


async def test_reports_as_tables_and_csv(database_url: str, tmp_path: Path, db: asyncpg.Connection) -> None:
    """Each report prints a titled table of the same rows the API gives; --csv prints CSV; bad bounds exit 2."""
    now = datetime.now(UTC)
    ann = await create_user(db, username="ann", created_at=now - timedelta(days=2))
    bob = await create_user(db, username="bob", created_at=now - timedelta(days=2))
    await award(db, ann, "purchase-item", at=now - timedelta(hours=1))
    await award(db, ann, "complete-quest", at=now - timedelta(hours=2))
    await award(db, bob, "complete-quest", at=now - timedelta(days=1))

    top = analytics(database_url, tmp_path, "top-actions", "--days", "7")
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    assert lines[0].startswith("top actions, last 7 days (since ")
    assert lines[1].split() == ["actionId", "actionName", "frequency", "totalPoints"]
    assert [line.split() for line in lines[3:]] == [
        ["complete-quest", "Complete", "Quest", "2", "20"],
        ["purchase-item", "Purchase", "Item", "1", "100"],
    ]

    performers = analytics(database_url, tmp_path, "top-performers", "--days", "7", "--limit", "1")
    assert performers.returncode == 0, performers.stderr
    assert [line.split()[1:] for line in performers.stdout.splitlines()[3:]] == [["ann", "110", "110", "2"]]

    daily = analytics(database_url, tmp_path, "daily", "--days", "30", "--csv")
    assert daily.returncode == 0, daily.stderr
    rows = list(csv.DictReader(io.StringIO(daily.stdout)))
    assert sum(int(r["actions"]) for r in rows) == 3
    assert sum(int(r["totalPoints"]) for r in rows) == 120

    growth = analytics(database_url, tmp_path, "growth")
    assert growth.returncode == 0, growth.stderr
    assert (now - timedelta(days=2)).date().isoformat() in growth.stdout

    one = analytics(database_url, tmp_path, "top-actions", "--days", "1", "--limit", "1")
    assert one.returncode == 0
    assert [line.split()[0] for line in one.stdout.splitlines()[3:]] == ["purchase-item"]
    for bad in (("daily", "--days", "0"), ("growth", "--days", "366"), ("top-performers", "--limit", "101")):
        assert analytics(database_url, tmp_path, *bad).returncode == 2, bad
