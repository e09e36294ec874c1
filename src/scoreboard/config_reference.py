"""The configuration reference: Markdown tables of the `SCOREBOARD_*` variables, generated from `Settings`.

A document marks each generated table with `<!-- config-reference: SECTION -->` above it and
`<!-- /config-reference -->` below it; `scoreboard config reference --write FILE` regenerates what is between.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pydantic_settings import BaseSettings

from scoreboard.config import Settings

# Which settings each section's table lists, by field name.
SECTIONS: dict[str, Callable[[str], bool]] = {
    "all": lambda name: True,
    "live": lambda name: name.startswith(("stream_", "live_")),
}
HEADER = "| Variable | Default | Meaning |\n|---|---|---|\n"
END = "<!-- /config-reference -->"
BLOCK = re.compile(r"(<!-- config-reference: (?P<section>[a-z]+) -->\n)(?P<table>.*?)(?=" + re.escape(END) + ")", re.S)
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class Row:
    """One variable of a table, as it reads there."""

    variable: str
    default: str
    meaning: str


def shown_default(value: object) -> str:
    """The default as a table shows it: what one would write in the variable, in backticks; *(unset)* for none."""
    if value is None:
        return "*(unset)*"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, Path) and not value.is_absolute():
        text = f"./{value}"
    else:
        text = str(value)
    return f"`{text}`"


def rows(section: str = "all", model: type[BaseSettings] = Settings) -> list[Row]:
    """The section's variables in the model's order; a setting without a description is an error."""
    prefix = str(model.model_config.get("env_prefix", ""))
    selected = SECTIONS[section]
    found = []
    for name, field in model.model_fields.items():
        if not selected(name):
            continue
        if not field.description:
            raise ValueError(f"{model.__name__}.{name} has no description: give it Field(description=...)")
        meaning = " ".join(field.description.split()).replace("|", "\\|")
        found.append(
            Row(f"`{prefix}{name.upper()}`", shown_default(field.get_default(call_default_factory=True)), meaning)
        )
    return found


def table(section: str = "all", model: type[BaseSettings] = Settings) -> str:
    """The section's Markdown table."""
    return HEADER + "".join(f"| {row.variable} | {row.default} | {row.meaning} |\n" for row in rows(section, model))


def refresh(text: str, model: type[BaseSettings] = Settings) -> str:
    """`text` with every marked table regenerated."""
    return BLOCK.sub(lambda match: match.group(1) + table(match.group("section"), model), text)


def documented(text: str) -> dict[str, list[Row]]:
    """The rows of each marked table of `text`, by section."""
    found: dict[str, list[Row]] = {}
    for match in BLOCK.finditer(text):
        lines = [line for line in match.group("table").splitlines() if line.startswith("|")][2:]
        cells = [[cell.strip() for cell in _CELL_SPLIT.split(line)[1:-1]] for line in lines]
        found[match.group("section")] = [Row(*cell) for cell in cells if len(cell) == 3]
    return found


def differences(text: str, where: str, model: type[BaseSettings] = Settings) -> list[str]:
    """What the marked tables of `text` (the document `where`) say that the model does not, one line each."""
    tables = documented(text)
    if not tables:
        return [f"{where} has no table marked <!-- config-reference: SECTION --> ... {END}"]
    problems = []
    for section, written in tables.items():
        if section not in SECTIONS:
            problems.append(f"{where}: unknown section {section!r} (known: {', '.join(SECTIONS)})")
            continue
        expected = {row.variable: row for row in rows(section, model)}
        seen = {row.variable: row for row in written}
        for variable, row in expected.items():
            have = seen.get(variable)
            if have is None:
                problems.append(f"{variable}: add it to the {section!r} table of {where}")
            elif have.default != row.default:
                problems.append(f"{variable}: {where} says default {have.default}, the model {row.default}")
            elif have.meaning != row.meaning:
                problems.append(f"{variable}: {where} says {have.meaning!r}, the model's description {row.meaning!r}")
        problems += [
            f"{variable}: no such setting; remove it from the {section!r} table of {where}"
            for variable in seen.keys() - expected.keys()
        ]
        if not problems and [row.variable for row in written] != list(expected):
            problems.append(f"{where}: the {section!r} table is not in the model's order")
    return problems
