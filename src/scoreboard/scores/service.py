"""The award rules: who may award whom, rate limits, exactly-once, policies, then the board."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import orjson
from redis.exceptions import RedisError

from scoreboard.auth.principal import Principal
from scoreboard.config import Settings
from scoreboard.db import Connection, Pool
from scoreboard.kit import metrics
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import (
    UNAVAILABLE,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from scoreboard.kit.ratelimit import SlidingWindow, Verdict
from scoreboard.leaderboard import keys, tops
from scoreboard.leaderboard import repository as board_repository
from scoreboard.leaderboard.board import Board, PeriodAward, iso_seconds
from scoreboard.leaderboard.tops import Tops
from scoreboard.scores import repository
from scoreboard.scores.audit import AuditWriter, Rejection
from scoreboard.scores.schemas import ScoreAwarded, ScoreUpdate
from scoreboard.state import State

log = logging.getLogger(__name__)

ENDPOINT = "/api/scores"
SCOPE = "scores:write"


@dataclass(frozen=True)
class Outcome:
    """An award (new or replayed) and the rate-limit state to report."""

    award: ScoreAwarded
    replayed: bool
    verdict: Verdict | None


@dataclass(frozen=True)
class Deps:
    """What the write path talks to."""

    pool: Pool
    redis: Pipelined
    board: Board
    limiter: SlidingWindow
    audit: AuditWriter
    settings: Settings
    tops: Tops

    @classmethod
    def of(cls, state: State) -> Deps:
        """Take the write path's resources from the process's state."""
        return cls(
            state["pool"],
            state["redis"],
            state["board"],
            state["limiter"],
            state["audit"],
            state["settings"],
            state["tops"],
        )


def target_of(principal: Principal, body: ScoreUpdate) -> UUID:
    """Players award themselves; trusted servers (scope scores:write) name the user."""
    if principal.kind == "user":
        if body.user_id is not None:
            raise Unprocessable("Players cannot name a user; the award is always for the caller.", field="userId")
        assert principal.user_id is not None
        return principal.user_id
    if SCOPE not in principal.scopes:
        raise Forbidden(f"This API key lacks the {SCOPE} scope.")
    if body.user_id is None:
        raise Unprocessable("A trusted server must name the user to award.", field="userId")
    return body.user_id


async def rate_limit(deps: Deps, principal: Principal, user_id: UUID, ip: str | None) -> Verdict | None:
    """Apply the sliding window; refusals are audited off the request path."""
    settings = deps.settings
    if principal.kind == "user":
        key, limit = f"rate_limit:{user_id}:{ENDPOINT}", settings.score_rate_limit
    else:
        key, limit = f"rate_limit:apikey:{principal.api_key_id}:{ENDPOINT}", settings.score_rate_limit_per_api_key
    try:
        verdict = await deps.limiter.check(key, limit=limit, window_seconds=settings.score_rate_window_seconds)
    except RedisError as exc:
        if principal.kind == "user":
            # Fail closed for players: without the limiter nothing bounds what an untrusted client sends.
            raise ServiceUnavailable(
                "Score updates are paused: the rate limiter is unavailable.", headers={"Retry-After": "5"}
            ) from exc
        log.warning("rate limiter unavailable: admitting a trusted server's award")
        return None
    if not verdict.allowed:
        metrics.REFUSALS.labels("rate_limit").inc()
        deps.audit.record(Rejection(user_id, ENDPOINT, verdict.attempts, ip))
        raise TooManyRequests(
            f"At most {limit} score updates per {settings.score_rate_window_seconds} s.",
            retry_after=verdict.retry_after,
            headers=verdict.headers(),
        )
    return verdict


async def award(
    deps: Deps,
    principal: Principal,
    body: ScoreUpdate,
    *,
    idempotency_key: str | None,
    ip: str | None,
    user_agent: str | None,
) -> Outcome:
    """Award `body.action_id` exactly once and put it on the board."""
    user_id = target_of(principal, body)
    verdict = await rate_limit(deps, principal, user_id, ip)
    try:
        return await _award(deps, principal, body, user_id, verdict, idempotency_key, ip, user_agent)
    except UNAVAILABLE:
        # PostgreSQL did not answer, so nothing was awarded: the attempt must not cost a rate-limit slot.
        if verdict is not None:
            with contextlib.suppress(RedisError):
                await deps.limiter.refund(verdict)
        raise


async def _award(
    deps: Deps,
    principal: Principal,
    body: ScoreUpdate,
    user_id: UUID,
    verdict: Verdict | None,
    idempotency_key: str | None,
    ip: str | None,
    user_agent: str | None,
) -> Outcome:
    async with deps.pool.acquire() as conn:
        try:
            row = await repository.award(
                conn,
                user_id=user_id,
                action_id=body.action_id,
                reason=body.reason,
                ip=ip,
                user_agent=user_agent,
                idempotency_key=idempotency_key,
                trusted=principal.kind == "api_key",
            )
        except asyncpg.UniqueViolationError:
            # A concurrent request with the same key committed first; ours rolled back whole.
            assert idempotency_key is not None
            row = await repository.prior_award(conn, user_id, idempotency_key)
        if row is None and idempotency_key is not None:
            row = await repository.prior_award(conn, user_id, idempotency_key)
        if row is None:
            raise await _refusal(conn, principal, user_id, body.action_id)
        if row["replayed"]:
            if row["action_id"] != body.action_id:
                raise Conflict("This Idempotency-Key was used for a different action.")
            metrics.REPLAYS.inc()
            return Outcome(await _replay(deps, conn, user_id, idempotency_key, row), True, verdict)
    periods = _periods(row["boards"], deps.settings.board_period_grace_seconds)
    metrics.series(metrics.AWARDS, row["action_id"]).inc()  # committed: the award is one autocommitted statement
    metrics.series(metrics.BOARD_AWARDS, "global").inc()
    for counted in periods:
        metrics.series(metrics.BOARD_AWARDS, counted.board_id).inc()
    awarded = await _publish(deps, user_id, row, periods)
    if idempotency_key is not None:
        await _remember(deps, user_id, idempotency_key, awarded)
    return Outcome(awarded, False, verdict)


async def _publish(deps: Deps, user_id: UUID, row: asyncpg.Record, periods: list[PeriodAward]) -> ScoreAwarded:
    """After commit: update the boards and publish; if Redis fails the award stands (the reconciler heals)."""
    try:
        applied = await deps.board.apply_award(
            user_id=user_id,
            username=row["username"],
            new_score=row["balance_after"],
            score_change=row["points_awarded"],
            action_id=row["action_id"],
            at=row["created_at"],
            history_id=row["id"],
            periods=periods,
        )
        # Once Redis holds it, this process's next read of these boards shows it (others hear of it by subscription).
        deps.tops.moved([tops.GLOBAL, *(tops.key_of(p.board_id, p.period) for p in periods)])
        if applied.rank:
            return _awarded(user_id, row, applied.rank)
    except RedisError:
        log.error("award %s committed but not published: Redis unavailable", row["id"])
    # Redis is away or its board is being rebuilt: the rank comes from PostgreSQL.
    async with deps.pool.acquire() as conn:
        rank = await board_repository.rank_of(conn, row["balance_after"])
    return _awarded(user_id, row, rank)


def _periods(counted: str | None, grace: int) -> list[PeriodAward]:
    """The other boards the award counted on (the statement's `boards` JSON), with when their Redis keys expire."""
    return [
        PeriodAward(board_id, period, score, end + grace if end is not None else 0)
        for board_id, period, score, end in orjson.loads(counted or "[]")
    ]


def _awarded(user_id: UUID, row: asyncpg.Record, rank: int | None) -> ScoreAwarded:
    """The response for a history row."""
    return ScoreAwarded(
        user_id=user_id,
        new_score=row["balance_after"],
        score_change=row["points_awarded"],
        action_id=row["action_id"],
        rank=rank,
        history_id=row["id"],
        timestamp=iso_seconds(row["created_at"]),
    )


async def _remember(deps: Deps, user_id: UUID, idempotency_key: str, awarded: ScoreAwarded) -> None:
    # Overwrites: after a database restore a key can award anew, and its replays must answer this award.
    try:
        body = awarded.model_dump_json(by_alias=True)
        await deps.redis.set(keys.replay(user_id, idempotency_key), body, ex=deps.settings.idempotency_ttl_seconds)
    except RedisError:
        log.warning("could not cache the response of an idempotent award")


async def _replay(
    deps: Deps, conn: Connection, user_id: UUID, idempotency_key: str | None, row: asyncpg.Record
) -> ScoreAwarded:
    """The original response: from the replay cache when it is this award's, else rebuilt from the history row."""
    assert idempotency_key is not None
    try:
        cached = await deps.redis.get(keys.replay(user_id, idempotency_key))
        if cached:
            awarded = ScoreAwarded.model_validate(orjson.loads(cached))
            # The cache may outlive the row (a restored database reuses ids): it must describe this very award.
            if awarded == _awarded(user_id, row, awarded.rank):
                return awarded
        rank = await deps.board.rank_of(row["balance_after"])
    except RedisError:
        rank = await board_repository.rank_of(conn, row["balance_after"])
    return _awarded(user_id, row, rank)


def _not_before(detail: str, reason: str, available: datetime, now: datetime) -> TooManyRequests:
    """A policy refusal that says when the award becomes possible."""
    retry = max(int((available - now).total_seconds()) + 1, 1)
    metrics.REFUSALS.labels(reason).inc()
    return TooManyRequests(detail, retry_after=retry, reason=reason, availableAt=iso_seconds(available))


async def _refusal(conn: Connection, principal: Principal, user_id: UUID, action_id: str) -> ProblemError:
    """Explain why nothing was awarded."""
    why = await repository.why_not(conn, user_id, action_id)
    if why["action_active"] is None or not why["action_active"]:
        return NotFound(f"No active action {action_id!r}.")
    if why["user_active"] is None:
        # A player's own token naming no user (a restored or reset database): the token is what is wrong.
        return Unauthorized("The access token is not valid.") if principal.kind == "user" else NotFound("No such user.")
    if not why["user_active"]:
        return Forbidden("This user is deactivated.")
    if not why["client_reportable"] and principal.kind != "api_key":
        return Forbidden(f"{action_id!r} can only be awarded by a trusted game server.")
    now: datetime = why["now"]
    if why["max_per_day"] is not None and why["day"] == why["today"] and why["day_count"] >= why["max_per_day"]:
        tomorrow = datetime.combine(why["today"] + timedelta(days=1), datetime.min.time(), UTC)
        detail = f"{action_id!r} may be awarded at most {why['max_per_day']} time(s) per UTC day."
        return _not_before(detail, "max_per_day", tomorrow, now)
    if why["cooldown_seconds"] is not None and why["last_awarded_at"] is not None:
        available = why["last_awarded_at"] + timedelta(seconds=why["cooldown_seconds"])
        return _not_before(f"{action_id!r} has a cooldown of {why['cooldown_seconds']} s.", "cooldown", available, now)
    # Everything allowed it a moment ago: a concurrent change (e.g. deactivation) won; the client may retry.
    return Conflict("The award could not be applied; retry.")
