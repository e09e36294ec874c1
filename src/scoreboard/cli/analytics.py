"""`scoreboard analytics`: the admin analytics reports as tables (or CSV) on the command line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scoreboard.cli.actions import _run as in_transaction

if TYPE_CHECKING:
    from scoreboard.analytics.schemas import Report

app = typer.Typer(
    help="Reports over score history and sign-ups, as /api/admin/analytics gives them.", no_args_is_help=True
)

Days = Annotated[int, typer.Option(min=1, max=365, help="Window in days")]
Limit = Annotated[int, typer.Option(min=1, max=100, help="Rows")]
Csv = Annotated[bool, typer.Option("--csv", help="Print CSV (with a header row) instead of a table")]


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """Lay rows out under their column names; numbers are right-aligned."""
    cells = [[_text(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        padded = (v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _show(title: str, load: Callable[[Any], Awaitable[Report]], csv: bool) -> None:
    from scoreboard.analytics.rendering import to_csv

    report = in_transaction(load)
    if csv:
        typer.echo(to_csv(report), nl=False)
        return
    columns = [field.alias or name for name, field in report.row.model_fields.items()]
    rows = [[getattr(item, name) for name in report.row.model_fields] for item in report.items]
    typer.echo(f"{title}, last {report.days} days (since {report.since.isoformat()})")
    typer.echo(table(columns, rows) if rows else "(nothing in this window)")


@app.command("top-actions")
def top_actions(days: Days = 7, limit: Limit = 10, csv: Csv = False) -> None:
    """The most frequently awarded actions (seed query 6)."""
    from scoreboard.analytics import service

    _show("top actions", lambda conn: service.top_actions(conn, days, limit), csv)


@app.command()
def daily(days: Days = 30, csv: Csv = False) -> None:
    """Awards per UTC day: active players, points, mean and largest award (seed query 11)."""
    from scoreboard.analytics import service

    _show("daily", lambda conn: service.daily(conn, days), csv)


@app.command()
def growth(days: Days = 90, csv: Csv = False) -> None:
    """Sign-ups per UTC day and those users' scores today (seed query 12)."""
    from scoreboard.analytics import service

    _show("growth", lambda conn: service.growth(conn, days), csv)


@app.command("top-performers")
def top_performers(days: Days = 7, limit: Limit = 20, csv: Csv = False) -> None:
    """Active players by points earned in the window (seed query 13)."""
    from scoreboard.analytics import service

    _show("top performers", lambda conn: service.top_performers(conn, days, limit), csv)
