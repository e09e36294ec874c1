"""The integrity report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from scoreboard.kit.schemas import Schema


class Check(Schema):
    """One check: how many problems it found, a sample of them, and whether they can be (or were) fixed."""

    name: str
    description: str
    count: int
    repairable: bool = Field(description="Fixed by `scoreboard check --repair` (Redis only; PostgreSQL needs a human)")
    repaired: bool
    advice: str | None = Field(description="What to do about it; null when the check found nothing")
    sample: list[dict[str, Any]] = Field(description="The first problems found (camelCase fields)")


class IntegrityReport(Schema):
    """Every check, in a fixed order; `ok` when nothing needs attention any more."""

    ok: bool
    checked_at: datetime
    checks: list[Check]

    @property
    def needs_human(self) -> list[Check]:
        """Checks with findings that a repair cannot fix."""
        return [c for c in self.checks if c.count and not c.repaired]
