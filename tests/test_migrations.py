"""The Alembic migrations create exactly the seed schema, revert cleanly, and only ever add to it."""

from __future__ import annotations

import asyncio
import difflib
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from pprint import pformat
from typing import TYPE_CHECKING

import asyncpg
import pytest

from scoreboard import migrate
from tests.fixtures.urls import with_database

if TYPE_CHECKING:
    from tests.fixtures.servers import Servers

SEED_REVISION = "0001_seed_schema"
SEED_SQL = Path(__file__).parent / "fixtures" / "seed_schema.sql"
SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "database-schema.md"
APPENDIX_HEADING = "## Appendix: Full Schema Export"
SEED_ACTIONS = {"achievement-unlock", "complete-quest", "daily-login", "purchase-item", "referral-signup"}

Catalog = dict[str, list[tuple[object, ...]]]
CreateDatabase = Callable[[], Awaitable[str]]

# Only the migrated database has Alembic's bookkeeping table, so every query leaves it out.
_PUBLIC = "c.relnamespace = 'public'::regnamespace AND c.relname <> 'alembic_version'"

CATALOG_QUERIES = {
    "tables": f"SELECT c.relname::text FROM pg_class c WHERE {_PUBLIC} AND c.relkind IN ('r', 'p') ORDER BY 1",
    "columns": f"""
        SELECT c.relname::text, a.attnum, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {_PUBLIC} AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraints": f"""
        SELECT c.relname::text, k.conname::text, k.contype::text, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE {_PUBLIC} ORDER BY 1, 2""",
    "indexes": f"""
        SELECT c.relname::text, i.relname::text, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
        WHERE {_PUBLIC} ORDER BY 1, 2""",
    "triggers": f"""
        SELECT c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE {_PUBLIC} AND NOT t.tgisinternal ORDER BY 1, 2""",
    "sequences": f"""
        SELECT c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
               s.seqcycle
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE {_PUBLIC} ORDER BY 1""",
    # pg_get_functiondef rejects aggregates, so only plain functions and procedures are read.
    "functions": """
        SELECT p.proname::text, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p') ORDER BY 1, 2""",
    "views": f"""
        SELECT c.relname::text, pg_get_viewdef(c.oid)
        FROM pg_class c WHERE {_PUBLIC} AND c.relkind IN ('v', 'm') ORDER BY 1""",
}
ACTIONS_QUERY = "SELECT id, name, description, points, is_active FROM actions ORDER BY id"

# Anything in public that a downgrade to base leaves behind, apart from Alembic's (emptied) table.
LEFTOVERS_QUERY = """
    SELECT 'relation', c.relname::text FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')
    UNION ALL
    SELECT 'function', p.proname::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'type', t.typname::text FROM pg_type t
    WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e', 'r', 'm')
    ORDER BY 1, 2"""

_counter = itertools.count()


async def read_catalog(url: str) -> Catalog:
    """Read the public schema's catalog, and the rows of `actions` if it exists."""
    conn = await asyncpg.connect(url)
    try:
        catalog: Catalog = {}
        for section, query in CATALOG_QUERIES.items():
            catalog[section] = [tuple(row) for row in await conn.fetch(query)]
        has_actions = ("actions",) in catalog["tables"]
        catalog["actions"] = [tuple(row) for row in await conn.fetch(ACTIONS_QUERY)] if has_actions else []
        return catalog
    finally:
        await conn.close()


def assert_same_catalog(expected: Catalog, actual: Catalog) -> None:
    """Fail with a unified diff of every catalog section that differs."""
    diff: list[str] = []
    for section in sorted(expected.keys() | actual.keys()):
        want = [repr(row) for row in expected.get(section, [])]
        got = [repr(row) for row in actual.get(section, [])]
        diff += difflib.unified_diff(want, got, f"seed sql: {section}", f"migrated: {section}", lineterm="")
    assert not diff, "catalogs differ:\n" + "\n".join(diff)


async def upgrade(url: str, revision: str) -> None:
    """Apply migrations up to `revision` off the event loop."""
    # migrate.upgrade runs its own asyncio.run, which cannot nest inside this test's loop.
    await asyncio.to_thread(migrate.upgrade, url, revision)


@pytest.fixture(scope="module")
async def create_database(servers: Servers) -> AsyncIterator[CreateDatabase]:
    """Yield a factory of empty scratch databases, all dropped at module end."""
    admin = await asyncpg.connect(servers.admin_url)
    names: list[str] = []

    async def create() -> str:
        name = f"scoreboard_mig_{os.getpid()}_{next(_counter)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return with_database(servers.admin_url, name)

    try:
        yield create
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def seed_catalog(create_database: CreateDatabase) -> Catalog:
    """Return the catalog of a database built by running the seed's SQL verbatim."""
    url = await create_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED_SQL.read_text())
    finally:
        await conn.close()
    return await read_catalog(url)


async def test_seed_revision_creates_exactly_the_seed_schema(
    seed_catalog: Catalog, create_database: CreateDatabase
) -> None:
    """Migrate to the seed revision and compare its catalog with the seed SQL's."""
    url = await create_database()
    await upgrade(url, SEED_REVISION)
    migrated = await read_catalog(url)

    assert_same_catalog(seed_catalog, migrated)
    # Equality alone would also pass if both sides were empty or broken the same way.
    assert [row[0] for row in migrated["tables"]] == ["actions", "rate_limit_audit", "score_history", "users"]
    assert [row[0] for row in migrated["views"]] == ["top_10_leaderboard", "user_rankings"]
    assert {row[:2] for row in migrated["triggers"]} == {
        ("actions", "actions_updated_at_trigger"),
        ("users", "users_updated_at_trigger"),
    }
    assert {row[0] for row in migrated["functions"]} == {"update_actions_updated_at", "update_users_updated_at"}
    assert ("users", "valid_email", "c") in {row[:3] for row in migrated["constraints"]}
    assert ("score_history", "idx_score_history_user_created") in {row[:2] for row in migrated["indexes"]}
    assert {row[0] for row in migrated["actions"]} == SEED_ACTIONS


async def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(
    create_database: CreateDatabase,
) -> None:
    """Upgrade, downgrade to base, check nothing is left, then upgrade again."""
    url = await create_database()
    await upgrade(url, "head")
    await asyncio.to_thread(migrate.downgrade, url, "base")

    conn = await asyncpg.connect(url)
    try:
        assert [tuple(row) for row in await conn.fetch(LEFTOVERS_QUERY)] == []
        if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is not None:
            assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 0

        await upgrade(url, "head")
        assert {row["id"] for row in await conn.fetch("SELECT id FROM actions")} == SEED_ACTIONS
        assert await conn.fetchval("SELECT version_num FROM alembic_version") in migrate.head_revisions()
    finally:
        await conn.close()


async def test_head_keeps_every_seed_object_unchanged(seed_catalog: Catalog, create_database: CreateDatabase) -> None:
    """Migrate to head and check every seed object survives with the same definition."""
    url = await create_database()
    await upgrade(url, "head")
    head = await read_catalog(url)

    # Later revisions may add objects and rows, but must not drop or redefine what the seed made;
    # the seed's action rows are data, which later revisions may legitimately extend.
    missing = {s: sorted(set(seed_catalog[s]) - set(head[s]), key=repr) for s in CATALOG_QUERIES}
    missing = {s: rows for s, rows in missing.items() if rows}
    assert not missing, "head lost or changed seed objects:\n" + pformat(missing, width=120)
    assert seed_catalog["tables"], "the seed catalog is empty, so this check proves nothing"


def test_seed_fixture_matches_spec_appendix() -> None:
    """Check tests/fixtures/seed_schema.sql equals the spec's appendix SQL block."""
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}; cannot compare the seed fixture with its appendix")
    text = SPEC.read_text()
    heading = text.find(APPENDIX_HEADING)
    assert heading >= 0, f"{SPEC} has no {APPENDIX_HEADING!r} heading"
    block = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE).search(text, heading)
    assert block is not None, f"no ```sql block after {APPENDIX_HEADING!r} in {SPEC}"
    assert SEED_SQL.read_text() == block.group(1)


def test_head_revisions_read_from_files_match_alembic() -> None:
    """The serving process's Alembic-free reading of the head agrees with Alembic's own."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/x"))
    assert migrate.head_revisions() == tuple(sorted(script.get_heads()))
    assert len(migrate.head_revisions()) == 1


def test_serving_process_does_not_import_alembic() -> None:
    """Building the app leaves Alembic and SQLAlchemy unloaded (~26 MB per worker that only migrations use)."""
    code = (
        "import sys\n"
        "from scoreboard.app import create_app\n"
        "from scoreboard.config import Settings\n"
        "create_app(Settings(database_url='postgresql://x@127.0.0.1/x', redis_url='redis://127.0.0.1:1'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'sqlalchemy', 'mako')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


async def test_serve_migrates_in_a_child_that_logs_like_the_parent(
    create_database: CreateDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The child logs Alembic's progress in the parent's format, and a stray alembic.py in the cwd is not imported."""
    url = await create_database()
    (tmp_path / "alembic.py").write_text("raise SystemExit('the working directory was on sys.path')\n")
    monkeypatch.chdir(tmp_path)
    await asyncio.to_thread(migrate.upgrade_in_child, url, "INFO", "json")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert any("Running upgrade" in line["msg"] for line in lines), lines
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == migrate.head_revisions()[0]
    finally:
        await conn.close()


async def test_a_revision_deadlocked_by_live_traffic_is_retried(database_url: str) -> None:
    """A reader holds `boards`, then asks for a table the revision already dropped: PostgreSQL aborts the revision."""
    reader = await asyncpg.connect(database_url)
    watcher = await asyncpg.connect(database_url)
    try:
        reading = reader.transaction()
        await reading.start()
        await reader.fetch("SELECT 1 FROM boards LIMIT 1")  # as an award does
        # Reverting 0008 drops result_standings, then waits to ALTER boards behind the reader.
        downgrading = asyncio.ensure_future(asyncio.to_thread(migrate.downgrade, database_url, "0007_boards"))
        for _ in range(200):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%ALTER TABLE%'"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the revision never waited for the reader"
        # The reader now needs what the revision holds: a deadlock, which PostgreSQL breaks by aborting the revision
        # (it waited first). The reader goes on and finishes; the retried revision then applies.
        assert await reader.fetch("SELECT 1 FROM result_standings LIMIT 1") == []
        await reading.commit()
        await asyncio.wait_for(downgrading, 60)
        assert await watcher.fetchval("SELECT version_num FROM alembic_version") == "0007_boards"
        assert await watcher.fetchval("SELECT to_regclass('result_standings')") is None
    finally:
        await reader.close()
        await watcher.close()
