"""Results on the wire: a trusted server's submission, its answer, a moderator's removal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from scoreboard.kit.schemas import Schema, StrictSchema, storable_json

INT64 = 2**63
METADATA_BYTES = 1024


Value = Annotated[
    int,
    Field(ge=-INT64, le=INT64 - 1, json_schema_extra={"format": "int64"}, description="The result, an integer"),
]
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(storable_json(METADATA_BYTES)),
    Field(description="A JSON object of at most 1 KB kept with the result (a replay id, a car, a seed)"),
]


class ResultSubmit(StrictSchema):
    """A result a trusted game server reports for a player."""

    user_id: Annotated[UUID, Field(strict=False)]
    value: Value
    metadata: Metadata | None = None


class ResultRecorded(Schema):
    """What a submission did to the player's standing."""

    user_id: UUID
    value: int = Field(description="The value submitted")
    best: int | None = Field(description="The player's standing value now (best or latest, as the board keeps)")
    rank: int | None = Field(description="The player's rank now; null when the player has no standing")
    improved: bool = Field(description="Whether the submission ranks better than the standing before it")
    submission_id: int
    board_id: str
    period: str


class Removal(StrictSchema):
    """Why a submission is removed."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


class SubmissionView(Schema):
    """A submission as the audit holds it."""

    id: int
    board_id: str
    period: str
    user_id: UUID
    value: int
    metadata: dict[str, Any] | None
    api_key_id: UUID | None
    created_at: datetime
    removed_at: datetime | None
    removed_by: UUID | None
    removal_reason: str | None


class SubmissionList(Schema):
    """Submissions, newest first."""

    submissions: list[SubmissionView]
