"""Run every integrity check, optionally repair what is safe to repair, and say what needs a human."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic.alias_generators import to_camel
from redis.asyncio import Redis

from scoreboard.boards import repository as boards_repository
from scoreboard.boards.families import FamilyDrift
from scoreboard.db import Pool
from scoreboard.integrity import repository
from scoreboard.integrity.schemas import Check, IntegrityReport
from scoreboard.leaderboard import mirror, reconciler
from scoreboard.results import repository as results_repository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """What a check looks for and what to do when it finds something."""

    description: str
    advice: str
    repairable: bool = False


KINDS = {
    "score-mismatch": Kind(
        "users.current_score differs from the sum of the user's score_history (seed query 14)",
        "Find the cause before changing either side: a positive discrepancy (score above history) means lost "
        "history rows or a score raised outside the award path; a negative one, history written without its score "
        "or a score lowered by hand.",
    ),
    "score-without-history": Kind(
        "users with a score but no score_history at all (seed query 15)",
        "Every point must come from a recorded award: restore the history or correct the score by hand.",
    ),
    "history-without-user": Kind(
        "score_history rows whose user does not exist (seed query 15)",
        "The foreign key forbids these: they came from a restore or bypassed constraints. Restore the users "
        "or delete the rows.",
    ),
    "history-without-action": Kind(
        "score_history rows whose action is not in the catalog",
        "The foreign key forbids these: re-create the action (it can stay inactive) or delete the rows.",
    ),
    "board-mirror": Kind(
        "the Redis board mirrors another state of PostgreSQL (a restored or reset database, a restarted Redis)",
        "The reconciler rebuilds it within seconds; `scoreboard check --repair` rebuilds it now.",
        repairable=True,
    ),
    "board-missing": Kind(
        "active users missing from the Redis leaderboard",
        "Run `scoreboard check --repair` (or `scoreboard leaderboard rebuild`).",
        repairable=True,
    ),
    "board-different": Kind(
        "users whose score, reach time or username on the Redis leaderboard differs from PostgreSQL",
        "Run `scoreboard check --repair`.",
        repairable=True,
    ),
    "board-inactive": Kind(
        "deactivated users still on the Redis leaderboard",
        "Run `scoreboard check --repair`.",
        repairable=True,
    ),
    "board-unknown": Kind(
        "leaderboard members that are no user at all",
        "Run `scoreboard check --repair`.",
        repairable=True,
    ),
    "period-total": Kind(
        "board periods whose standings do not add up to their awards in score_history (boards changed since they "
        "were created are checked only in the periods that began after the change)",
        "Find the cause (standings written by hand, a restore of one table); `scoreboard boards backfill ID` "
        "recounts the board from score_history.",
    ),
    "result-standing": Kind(
        "result board standings that are not the best (or latest) of the player's remaining submissions",
        "Find the cause (standings written by hand, a restore of one table); `scoreboard boards backfill ID` "
        "derives the board's standings from its submissions again.",
    ),
    "period-board": Kind(
        "players missing, stray or with another score, reach time or name in a board's current period in Redis",
        "Run `scoreboard check --repair` (or `scoreboard leaderboard rebuild`).",
        repairable=True,
    ),
    "score-cache": Kind(
        "user:{id}:score caches holding another score than PostgreSQL (or kept for users who are not active)",
        "Run `scoreboard check --repair`.",
        repairable=True,
    ),
}


def _sample_row(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {to_camel(k): str(v) if isinstance(v, UUID) else v for k, v in dict(row).items() if k != "total"}


def _check(name: str, count: int, sample: Sequence[asyncpg.Record | dict[str, Any]], repaired: bool) -> Check:
    kind = KINDS[name]
    return Check(
        name=name,
        description=kind.description,
        count=count,
        repairable=kind.repairable,
        repaired=repaired and kind.repairable and count > 0,
        advice=kind.advice if count else None,
        sample=[_sample_row(r) for r in sample],
    )


async def run(
    pool: Pool, redis: Redis, *, repair: bool = False, sample: int = 20, rebuild_wait_seconds: float = 120.0
) -> IntegrityReport:
    """Check PostgreSQL's own consistency and Redis against it; with `repair`, fix Redis (the derived copy)."""
    checked_at = datetime.now(UTC)
    async with pool.acquire() as conn:
        found = await repository.postgres_findings(conn, sample)
        unequal = await boards_repository.unequal_totals(conn)
        wrong = await results_repository.wrong_standings(conn)
    checks = [_check(name, count, rows, repaired=False) for name, (count, rows) in found.items()]
    checks.append(_check("period-total", len(unequal), unequal[:sample], repaired=False))
    checks.append(_check("result-standing", len(wrong), wrong[:sample], repaired=False))

    async with pool.acquire() as conn:
        why = await mirror.mismatch(conn, redis)
    rebuilt = False
    if why is not None and repair:
        # A rebuild another process runs is waited for, and its board checked: it may have begun before the change.
        try:
            await reconciler.rebuild_mirrored(pool, redis, rebuild_wait_seconds, stale=True)
            rebuilt = True
        except TimeoutError:
            log.warning("board not rebuilt: another rebuild held the lock for %ss", rebuild_wait_seconds)
    checks.append(_check("board-mirror", int(why is not None), [{"reason": why}] if why else [], rebuilt))
    drift = await reconciler.check(pool, redis, repair=repair)
    parsed = {member: _uuid_or_none(member) for member in drift.extra}
    extra_ids = [u for u in parsed.values() if u is not None]
    async with pool.acquire() as conn:
        users = await repository.users_by_id(conn, [*drift.missing[:sample], *drift.different[:sample], *extra_ids])
    # Off the expected board but still a user: a deactivated one (the check compares against active users).
    inactive = [u for u in extra_ids if u in users]
    unknown = [member for member, u in parsed.items() if u is None or u not in users]

    def named(ids: Sequence[UUID]) -> list[dict[str, Any]]:
        return [{"user_id": u, "username": users[u]["username"] if u in users else None} for u in ids[:sample]]

    checks += [
        _check("board-missing", len(drift.missing), named(drift.missing), repair),
        _check("board-different", len(drift.different), named(drift.different), repair),
        _check("board-inactive", len(inactive), named(inactive), repair),
        _check("board-unknown", len(unknown), [{"member": m} for m in unknown[:sample]], repair),
        _check("score-cache", len(drift.caches), [{"user_id": u} for u in drift.caches[:sample]], repair),
        _check(
            "period-board",
            sum(len(d.missing) + len(d.extra) + len(d.different) for d in drift.boards),
            [_period_sample(d) for d in drift.boards[:sample]],
            repair,
        ),
    ]
    return IntegrityReport(ok=all(c.count == 0 or c.repaired for c in checks), checked_at=checked_at, checks=checks)


def _period_sample(drift: FamilyDrift) -> dict[str, Any]:
    return {
        "board_id": drift.board_id,
        "period": drift.period,
        "missing": len(drift.missing),
        "extra": len(drift.extra),
        "different": len(drift.different),
    }


def _uuid_or_none(member: str) -> UUID | None:
    try:
        return UUID(member)
    except ValueError:
        return None
