"""JSON request bodies for routes served outside the framework: read within the limit, validated as FastAPI does."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from scoreboard.kit.bodylimit import declared_too_large, too_large_detail
from scoreboard.kit.problems import PayloadTooLarge, invalid_request

M = TypeVar("M", bound=BaseModel)
_BOM = b"\xef\xbb\xbf"


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """Read the whole request body; 413 (PayloadTooLarge) past `max_bytes`, announced or streamed."""
    if declared_too_large(scope, max_bytes):
        raise PayloadTooLarge(too_large_detail(max_bytes))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(too_large_detail(max_bytes))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (`application/json` or `application/*+json`), as FastAPI decides it."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse(model: type[M], body: bytes, content_type: str | None) -> M:
    """Validate a JSON body as `model`; a 422 problem with FastAPI's `body`-rooted error locations otherwise."""
    if not body:
        raise invalid_request([{"loc": ("body",), "msg": "Field required", "type": "missing"}])
    if not is_json(content_type):
        # FastAPI would validate the raw bytes and fail; say what is wrong instead.
        raise invalid_request([{"loc": ("body",), "msg": "Send the body as application/json", "type": "json_type"}])
    if body.startswith(_BOM):  # RFC 8259 lets a parser ignore it, and FastAPI's decoder does
        body = body[len(_BOM) :]
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_request(_rooted(exc.errors(include_input=False), body)) from None


def _rooted(errors: list[Any], body: bytes) -> list[dict[str, Any]]:
    if any(err["type"] == "json_invalid" for err in errors):
        # FastAPI reports where the JSON breaks (its decoder's offset); pydantic's error only says it in words.
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            pos = exc.pos if isinstance(exc, json.JSONDecodeError) else exc.start
            return [{"loc": ("body", pos), "msg": "JSON decode error", "type": "json_invalid"}]
        except (ValueError, RecursionError):  # nested past the decoders' depth: pydantic's own words will do
            pass
    return [{**err, "loc": ("body", *err["loc"])} for err in errors]
