"""`scoreboard check [--repair]`: every integrity check; exit 1 while anything needs attention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from scoreboard.cli.analytics import table
from scoreboard.cli.leaderboard import _with_stores

if TYPE_CHECKING:
    from scoreboard.integrity.schemas import Check


def _status(check: Check) -> str:
    if not check.count:
        return "ok"
    if check.repaired:
        return "repaired"
    return "repairable: --repair" if check.repairable else "NEEDS A HUMAN"


def run(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix the Redis board; PostgreSQL findings are reported")
    ] = False,
    sample: Annotated[int, typer.Option(min=0, max=1000, help="Problems listed per check")] = 10,
    json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (as GET /api/admin/integrity)")
    ] = False,
) -> None:
    """Check scores against history, orphans and the Redis board; exit 1 on findings, 2 if a store is unreachable."""
    from redis.exceptions import RedisError

    from scoreboard.integrity import service
    from scoreboard.kit.problems import STORE_ERRORS

    unreachable: tuple[type[Exception], ...] = (*STORE_ERRORS, RedisError)
    try:
        report = _with_stores(lambda pool, redis: service.run(pool, redis, repair=repair, sample=sample))
    except unreachable as exc:
        # Exit 2, not 1: monitoring must tell "the data has problems" from "the check could not run".
        typer.echo(f"error: could not run the checks: PostgreSQL or Redis unreachable ({exc})", err=True)
        raise typer.Exit(2) from exc
    if json:
        typer.echo(report.model_dump_json(by_alias=True, indent=2))
    else:
        typer.echo(table(["check", "count", "status"], [[c.name, c.count, _status(c)] for c in report.checks]))
        for check in (c for c in report.checks if c.count):
            typer.echo(f"\n{check.name}: {check.description}")
            for item in check.sample:
                typer.echo("  " + " ".join(f"{k}={_value(v)}" for k, v in item.items()))
            if check.count > len(check.sample):
                typer.echo(f"  ... {check.count - len(check.sample)} more")
            if not check.repaired:
                typer.echo(f"  -> {check.advice}")
        needs_human = report.needs_human
        if report.ok:
            typer.echo("\nrepaired" if any(c.repaired for c in report.checks) else "\nno findings")
        else:
            typer.echo(f"\nneeds attention: {', '.join(c.name for c in needs_human)}")
    if not report.ok:
        raise typer.Exit(1)


def _value(value: Any) -> str:
    return "-" if value is None else str(value)
