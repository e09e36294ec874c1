"""Actions on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from scoreboard.kit.schemas import Schema, StrictSchema
from scoreboard.scores.schemas import ActionId

Name = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Points = Annotated[int, Field(gt=0, le=1_000_000)]
Cooldown = Annotated[int, Field(gt=0, le=366 * 86_400)]
PerDay = Annotated[int, Field(gt=0, le=100_000)]


class ActionView(Schema):
    """An action with its points and policy."""

    id: str
    name: str
    description: str | None
    points: int
    is_active: bool
    cooldown_seconds: int | None
    max_per_day: int | None
    client_reportable: bool
    created_at: datetime
    updated_at: datetime


class ActionCreate(StrictSchema):
    """A new action."""

    id: ActionId
    name: Name
    description: Description | None = None
    points: Points
    cooldown_seconds: Cooldown | None = None
    max_per_day: PerDay | None = None
    client_reportable: bool = True


class ActionPatch(StrictSchema):
    """Changes to an action; they apply to future awards only. `null` clears a policy."""

    name: Name | None = None
    description: Description | None = None
    points: Points | None = None
    cooldown_seconds: Cooldown | None = None
    max_per_day: PerDay | None = None
    client_reportable: bool | None = None
    is_active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in ("name", "points", "clientReportable", "isActive"):
                if field in data and data[field] is None:
                    raise ValueError(f"{field} cannot be null")
        return data
