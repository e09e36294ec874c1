"""Probe responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Alive(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    """Every dependency answers and the schema is current."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]
