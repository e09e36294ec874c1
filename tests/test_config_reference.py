"""The configuration tables of README.md and docs/live.md are the settings model's, row for row."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from scoreboard import config_reference
from scoreboard.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "docs/live.md"]
REGENERATE = "run `scoreboard config reference --write README.md --write docs/live.md`"


def test_every_setting_has_a_description() -> None:
    """A setting without a description cannot be documented: it is named here."""
    undescribed = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert undescribed == [], "give each of these Field(description=...) in src/scoreboard/config.py"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_document_s_tables_are_the_model_s(document: str) -> None:
    """Names, defaults and meanings as the model has them; then the exact text the generator writes."""
    text = (ROOT / document).read_text(encoding="utf-8")
    assert config_reference.differences(text, document) == [], REGENERATE
    assert config_reference.refresh(text) == text, REGENERATE


def test_the_readme_lists_every_setting_and_live_md_the_streams() -> None:
    """README's table has all variables; docs/live.md's those of the live streams (and nothing else)."""
    readme = config_reference.documented((ROOT / "README.md").read_text(encoding="utf-8"))
    live = config_reference.documented((ROOT / "docs" / "live.md").read_text(encoding="utf-8"))
    assert [row.variable for row in readme["all"]] == [f"`SCOREBOARD_{name.upper()}`" for name in Settings.model_fields]
    assert {row.variable for row in live["live"]} >= {
        "`SCOREBOARD_STREAM_MAX_CONNECTIONS`",
        "`SCOREBOARD_LIVE_ACCELERATOR`",
    }
    assert all(row.variable.startswith(("`SCOREBOARD_STREAM_", "`SCOREBOARD_LIVE_")) for row in live["live"])


class Grown(Settings):
    """The settings after someone adds one and changes another's default and description."""

    trace_endpoint: str | None = Field(default=None, description="Where to send traces.")
    port: int = Field(default=9000, description="Port of `scoreboard serve`.")
    host: str = Field(default="127.0.0.1", description="Where to listen.")


class Undescribed(Settings):
    """A setting added without a description."""

    trace_endpoint: str | None = None


def test_a_setting_the_document_lacks_or_states_otherwise_is_named() -> None:
    """A new setting, a changed default and a changed description each fail with what to do."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config_reference.differences(text, "README.md", Grown) == [
        "`SCOREBOARD_HOST`: README.md says 'Bind address of `scoreboard serve`.', "
        "the model's description 'Where to listen.'",
        "`SCOREBOARD_PORT`: README.md says default `8000`, the model `9000`",
        "`SCOREBOARD_TRACE_ENDPOINT`: add it to the 'all' table of README.md",
    ]
    refreshed = config_reference.refresh(text, Grown)
    assert "| `SCOREBOARD_TRACE_ENDPOINT` | *(unset)* | Where to send traces. |\n" in refreshed
    assert config_reference.differences(refreshed, "README.md", Grown) == []
    with pytest.raises(ValueError, match=r"Undescribed.trace_endpoint has no description"):
        config_reference.table("all", Undescribed)


def test_a_row_for_no_setting_and_a_document_without_markers_are_named() -> None:
    """A stale row is reported, and so is a document that has no generated table at all."""
    text = (ROOT / "docs" / "live.md").read_text(encoding="utf-8")
    stale = text.replace(
        "<!-- /config-reference -->", "| `SCOREBOARD_STREAM_GONE` | `1` | Removed. |\n<!-- /config-reference -->"
    )
    assert config_reference.differences(stale, "docs/live.md") == [
        "`SCOREBOARD_STREAM_GONE`: no such setting; remove it from the 'live' table of docs/live.md"
    ]
    assert config_reference.differences("# Nothing here\n", "x.md") == [
        "x.md has no table marked <!-- config-reference: SECTION --> ... <!-- /config-reference -->"
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "*(unset)*"), (True, "`true`"), (2.0, "`2`"), (0.5, "`0.5`"), (Path(".scoreboard"), "`./.scoreboard`")],
)
def test_defaults_read_as_one_would_write_them(value: object, shown: str) -> None:
    """Booleans as the environment spells them, whole floats without `.0`, relative paths from `./`."""
    assert config_reference.shown_default(value) == shown
