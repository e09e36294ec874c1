"""`scoreboard config`: the configuration reference, generated from the settings model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scoreboard import config_reference

app = typer.Typer(help="The settings: every SCOREBOARD_* variable.", no_args_is_help=True)


@app.command()
def reference(
    section: Annotated[str, typer.Option(help="Which variables: all, or live (the streams')")] = "all",
    write: Annotated[
        list[Path] | None, typer.Option(help="Regenerate the marked tables of this Markdown file (repeatable)")
    ] = None,
    check: Annotated[
        list[Path] | None, typer.Option(help="Exit 1 if this file's marked tables differ from the settings")
    ] = None,
) -> None:
    """Print the Markdown table of the SCOREBOARD_* variables (default, meaning), or update or check documents."""
    if section not in config_reference.SECTIONS:
        raise typer.BadParameter(f"one of {', '.join(config_reference.SECTIONS)}", param_hint="--section")
    if not write and not check:
        typer.echo(config_reference.table(section), nl=False)
        return
    for path in write or []:
        text = path.read_text(encoding="utf-8")
        if not config_reference.documented(text):
            typer.echo(f"{path}: no marked table to regenerate", err=True)
            raise typer.Exit(1)
        path.write_text(config_reference.refresh(text), encoding="utf-8")
    problems = [
        problem
        for path in check or []
        for problem in config_reference.differences(path.read_text(encoding="utf-8"), str(path))
    ]
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
