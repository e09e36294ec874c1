"""The body limit holds on every route, however the body arrives: 413 problem, never a 400 or a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

OVER = b'{"username": "' + b"x" * 20_000 + b'"}'


async def _streamed(content: bytes) -> AsyncIterator[bytes]:
    """A body in parts, without Content-Length (chunked)."""
    for start in range(0, len(content), 4096):
        yield content[start : start + 4096]


@pytest.mark.parametrize("streamed", [False, True], ids=["announced", "streamed"])
async def test_an_oversized_json_body_is_413_on_a_routed_endpoint(client: httpx.AsyncClient, streamed: bool) -> None:
    """FastAPI turns errors raised while it reads a body into 400s; the limit's own error gets through as 413."""
    content = _streamed(OVER) if streamed else OVER
    response = await client.post("/api/auth/register", headers={"content-type": "application/json"}, content=content)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["title"], body["instance"]) == ("Content Too Large", "/api/auth/register")
    assert body["detail"] == "Request bodies are limited to 16384 bytes."
