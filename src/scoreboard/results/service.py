"""Result rules: who may submit, bounds, exactly-once, the standing derived in PostgreSQL, then Redis and live."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from redis.exceptions import RedisError

from scoreboard.auth.principal import Principal
from scoreboard.boards import periods
from scoreboard.boards.families import Family
from scoreboard.boards.periods import VALUE_LIMIT, Spec
from scoreboard.db import Connection
from scoreboard.kit import metrics
from scoreboard.kit.problems import UNAVAILABLE, Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from scoreboard.kit.ratelimit import Verdict
from scoreboard.leaderboard import keys, tops
from scoreboard.leaderboard.board import Member, SyncMode, iso_seconds
from scoreboard.results import repository
from scoreboard.results.schemas import ResultRecorded, ResultSubmit, SubmissionView
from scoreboard.state import State

log = logging.getLogger(__name__)

ENDPOINT = "/api/boards/results"
SCOPE = "results:write"


@dataclass(frozen=True)
class Outcome:
    """A submission (new or replayed) and the rate-limit state to report."""

    recorded: ResultRecorded
    replayed: bool
    verdict: Verdict | None


@dataclass(frozen=True)
class Change:
    """A player's standing after a committed change, to put in Redis and announce."""

    spec: Spec
    period: str
    user_id: UUID
    username: str
    standing: asyncpg.Record | None


def allowed(principal: Principal) -> None:
    """Only trusted servers with the results:write scope submit results (players never decide a result)."""
    if principal.kind != "api_key":
        raise Forbidden("Results come from trusted game servers (an API key with results:write), not players.")
    if SCOPE not in principal.scopes:
        raise Forbidden(f"This API key lacks the {SCOPE} scope.")


async def rate_limit(state: State, principal: Principal) -> Verdict | None:
    """The per-key sliding window (the score updates' per-key limit, counted apart)."""
    settings = state["settings"]
    key = f"rate_limit:apikey:{principal.api_key_id}:{ENDPOINT}"
    limit, window = settings.score_rate_limit_per_api_key, settings.score_rate_window_seconds
    try:
        verdict = await state["limiter"].check(key, limit=limit, window_seconds=window)
    except RedisError:
        log.warning("rate limiter unavailable: admitting a trusted server's result")
        return None
    if not verdict.allowed:
        metrics.REFUSALS.labels("rate_limit").inc()
        raise TooManyRequests(
            f"At most {limit} results per {window} s per API key.",
            retry_after=verdict.retry_after,
            headers=verdict.headers(),
        )
    return verdict


async def submit(
    state: State,
    principal: Principal,
    board_id: str,
    body: ResultSubmit,
    *,
    idempotency_key: str | None,
    ip: str | None,
    user_agent: str | None,
) -> Outcome:
    """Record a result once and derive the player's standing from it."""
    allowed(principal)
    spec = await state["boards"].spec(state["pool"], board_id)
    if spec.kind != "result":
        raise Conflict(f"Board {board_id!r} adds up points from actions: it takes no results.")
    verdict = await rate_limit(state, principal)
    try:
        return await _submit(state, principal, spec, body, verdict, idempotency_key, ip, user_agent)
    except UNAVAILABLE:
        if verdict is not None:  # nothing was recorded: the attempt costs no slot
            with contextlib.suppress(RedisError):
                await state["limiter"].refund(verdict)
        raise


def _check_bounds(rules: asyncpg.Record, value: int) -> None:
    low = rules["min_value"] if rules["min_value"] is not None else -VALUE_LIMIT
    high = rules["max_value"] if rules["max_value"] is not None else VALUE_LIMIT
    if not low <= value <= high:
        raise Unprocessable(f"value must be between {low} and {high} on this board.", field="value")


async def _submit(
    state: State,
    principal: Principal,
    spec: Spec,
    body: ResultSubmit,
    verdict: Verdict | None,
    idempotency_key: str | None,
    ip: str | None,
    user_agent: str | None,
) -> Outcome:
    metadata = orjson.dumps(body.metadata).decode() if body.metadata is not None else None
    async with state["pool"].acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            found = await repository.prior(conn, _key_id(principal), idempotency_key)
            if found is not None:
                return Outcome(await _replay(state, conn, spec, body, found), True, verdict)
        rules = await repository.board_now(conn, spec.id)
        if rules is None:
            raise NotFound(f"No board {spec.id!r}.")
        if not rules["is_active"]:
            raise Conflict(f"Board {spec.id!r} is not active: it takes no results.")
        if rules["period"] is None:
            raise Conflict(f"Season {spec.id!r} is not running now.")
        _check_bounds(rules, body.value)
        player = await repository.user(conn, body.user_id)
        if player is None:
            raise NotFound("No such user.")
        if not player["is_active"]:
            raise Forbidden("This user is deactivated.")
        period = rules["period"]
        await repository.lock(conn, spec.id, period, body.user_id)
        before = await repository.standing(conn, spec.id, period, body.user_id)
        row = await repository.insert(
            conn,
            {
                "board_id": spec.id,
                "period": period,
                "user_id": body.user_id,
                "value": body.value,
                "rank_value": spec.sign * body.value,
                "metadata": metadata,
                "api_key_id": _key_id(principal),
                "idempotency_key": idempotency_key,
                "ip": ip,
                "user_agent": user_agent,
            },
        )
        if row is None:  # the same key committed concurrently: answer with that submission
            assert idempotency_key is not None
            found = await repository.prior(conn, _key_id(principal), idempotency_key)
            assert found is not None
            return Outcome(await _replay(state, conn, spec, body, found), True, verdict)
        after = await repository.restand(conn, spec.id, period, body.user_id)
    metrics.series(metrics.RESULTS, spec.id).inc()
    improved = before is None or row["rank_value"] > before["rank_value"]
    change = Change(spec, period, body.user_id, player["username"], after)
    rank = await apply(state, change, "newer" if spec.keep == "latest" else "raise", row["id"], improved)
    return Outcome(_recorded(spec, row, after, rank, improved), False, verdict)


def _key_id(principal: Principal) -> UUID:
    assert principal.api_key_id is not None
    return principal.api_key_id


async def _replay(
    state: State, conn: Connection, spec: Spec, body: ResultSubmit, row: asyncpg.Record
) -> ResultRecorded:
    """The submission an idempotency key already made, with the player's standing now."""
    if row["board_id"] != spec.id or row["user_id"] != body.user_id or row["value"] != body.value:
        raise Conflict("This Idempotency-Key was used for a different submission.")
    metrics.REPLAYS.inc()
    after = await repository.standing(conn, row["board_id"], row["period"], row["user_id"])
    rank = await repository.rank(conn, spec.id, row["period"], after["rank_value"]) if after is not None else None
    improved = after is not None and after["submission_id"] == row["id"]
    return _recorded(spec, row, after, rank, improved)


def _recorded(
    spec: Spec, row: asyncpg.Record, after: asyncpg.Record | None, rank: int | None, improved: bool
) -> ResultRecorded:
    return ResultRecorded(
        user_id=row["user_id"],
        value=row["value"],
        best=after["value"] if after is not None else None,
        rank=rank if after is not None else None,
        improved=improved,
        submission_id=row["id"],
        board_id=spec.id,
        period=row["period"],
    )


async def apply(state: State, change: Change, mode: SyncMode, submission_id: int, improved: bool) -> int | None:
    """After commit: put the standing on the period's Redis board and announce it; return the player's rank."""
    spec, standing = change.spec, change.standing
    period = periods.period(spec, change.period)
    assert period is not None
    catalog = state["boards"]
    board = catalog.live(spec, period)
    rank: int | None = None
    try:
        if spec.is_active and catalog.current(spec, datetime.now(UTC)).key == period.key:
            member = Member(
                change.user_id,
                change.username,
                standing["rank_value"] if standing is not None else 0,
                standing["reached_at"] if standing is not None else datetime.now(UTC),
                active=standing is not None,
            )
            await board.sync([member], mode)
            expires = Family(spec, period).expires_at(state["settings"].board_period_grace_seconds)
            if expires:
                await board.expire_at(expires)
            state["tops"].moved([tops.key_of(spec.id, period.key)])
            if standing is not None:
                rank = await board.rank_of(standing["rank_value"])
    except RedisError as exc:
        log.warning("result %s committed; Redis not updated (%s): the reconciler heals it", submission_id, exc)
    if rank is None and standing is not None:
        async with state["pool"].acquire() as conn:
            rank = await repository.rank(conn, spec.id, period.key, standing["rank_value"])
    await _announce(state, change, submission_id, rank, improved)
    return rank


async def _announce(state: State, change: Change, submission_id: int, rank: int | None, improved: bool) -> None:
    standing = change.standing
    message = {
        "type": "result_update",
        "boardId": change.spec.id,
        "period": change.period,
        "userId": str(change.user_id),
        "username": change.username,
        "best": standing["value"] if standing is not None else None,
        "rank": rank,
        "improved": improved,
        "submissionId": submission_id,
        "timestamp": iso_seconds(datetime.now(UTC)),
    }
    with contextlib.suppress(RedisError):
        await state["redis"].execute("PUBLISH", keys.RESULTS, orjson.dumps(message))


async def remove(state: State, submission_id: int, by: UUID, reason: str) -> SubmissionView:
    """Remove a submission (a cheater's lap): the standing is derived again from what remains, and announced."""
    async with state["pool"].acquire() as conn, conn.transaction():
        found = await repository.submission(conn, submission_id)
        if found is None:
            raise NotFound(f"No submission {submission_id}.")
        await repository.lock(conn, found["board_id"], found["period"], found["user_id"])
        row = await repository.remove(conn, submission_id, by, reason)
        if row is None:
            raise Conflict(f"Submission {submission_id} was removed already.")
        after = await repository.restand(conn, row["board_id"], row["period"], row["user_id"])
        player = await repository.user(conn, row["user_id"])
    log.info("result %s removed by %s: %s", submission_id, by, reason)
    spec = await state["boards"].spec(state["pool"], row["board_id"])
    if periods.period(spec, row["period"]) is not None:
        username = player["username"] if player is not None else ""
        await apply(state, Change(spec, row["period"], row["user_id"], username, after), "exact", row["id"], False)
    return view(row)


def view(row: asyncpg.Record) -> SubmissionView:
    """A submission row as the API shows it."""
    fields: dict[str, Any] = {k: row[k] for k in SubmissionView.model_fields if k != "metadata"}
    metadata = orjson.loads(row["metadata"]) if row["metadata"] is not None else None
    return SubmissionView(**fields, metadata=metadata)
