"""Probe responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Alive(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    """Every dependency answers, the schema is current, and the board mirrors PostgreSQL (or is being rebuilt)."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]
