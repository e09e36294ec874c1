"""No password, token, API key or hash reaches a log line, at DEBUG, through the main flows on a real server."""

from __future__ import annotations

import json
import logging

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from scoreboard.config import Settings
from tests.fixtures.accounts import PASSWORD, admin, login, register
from tests.fixtures.apps import running
from tests.fixtures.logs import service_logs
from tests.fixtures.metrics import METRICS_TOKEN
from tests.fixtures.servers import TEST_SECRET
from tests.fixtures.streams import serving, sse

# The test's own HTTP client logs its requests (URLs with tickets among them): those lines are not the service's.
CLIENT_LOGGERS = ("httpx", "httpcore")


def logged_text(record: logging.LogRecord) -> str:
    """Everything of a record a handler could write: message, arguments, exception, extra attributes."""
    return " ".join(
        [record.getMessage(), repr(record.args), record.exc_text or "", repr(vars(record))]
        + ([logging.Formatter().formatException(record.exc_info)] if record.exc_info else [])
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_secrets_never_reach_a_log_line(
    settings: Settings,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """Register, log in, refresh, award, create and use an API key, open a stream with a ticket: all at DEBUG."""
    metered = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN), "log_level": "DEBUG"})
    secrets: dict[str, str] = {"password": PASSWORD, "jwt secret": TEST_SECRET, "metrics token": METRICS_TOKEN}
    with service_logs(fmt, "DEBUG") as output:
        caplog.set_level(logging.DEBUG)
        logging.getLogger().addHandler(caplog.handler)  # beside the service's own handler, which replaced it
        # Other tests' servers run without access logs, which stops uvicorn's access logger propagating.
        monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
        async with (
            running(metered) as app,
            serving(app, access_log=True, log_level="debug") as base,
            httpx.AsyncClient(base_url=base) as http,
        ):
            player = await login(http, await register(http))
            secrets |= {"access token": player.access_token, "refresh token": player.refresh_token}
            refreshed = await http.post("/api/auth/refresh", json={"refreshToken": player.refresh_token})
            assert refreshed.status_code == 200, refreshed.text
            player.access_token = refreshed.json()["accessToken"]
            secrets |= {
                "rotated access token": player.access_token,
                "rotated refresh": refreshed.json()["refreshToken"],
            }
            reused = await http.post("/api/auth/refresh", json={"refreshToken": secrets["refresh token"]})
            assert reused.status_code == 401  # a reuse: the family is revoked (and that is logged, if anything)
            player = await login(http, player)
            wrong = await http.post("/api/auth/login", json={"login": player.username, "password": "not it at all"})
            assert wrong.status_code == 401
            secrets["wrong password"] = "not it at all"

            awarded = await http.post("/api/scores", json={"actionId": "complete-quest"}, headers=player.headers)
            assert awarded.status_code == 201, awarded.text

            boss = await admin(http, db)
            secrets["admin token"] = boss.access_token
            created = await http.post(
                "/api/admin/api-keys", headers=boss.headers, json={"name": "game", "scopes": ["scores:write"]}
            )
            assert created.status_code == 201, created.text
            secrets["api key"] = created.json()["key"]
            by_key = await http.post(
                "/api/scores",
                json={"actionId": "complete-quest", "userId": str(player.id)},
                headers={"X-API-Key": secrets["api key"]},
            )
            assert by_key.status_code == 201, by_key.text
            bad_key = await http.post(
                "/api/scores", json={"actionId": "complete-quest"}, headers={"X-API-Key": secrets["api key"] + "x"}
            )
            assert bad_key.status_code == 401

            ticket = await http.post("/api/leaderboard/stream-ticket", headers=player.headers)
            assert ticket.status_code == 201, ticket.text
            secrets["stream ticket"] = ticket.json()["ticket"]
            async with sse(base, params={"ticket": secrets["stream ticket"]}) as stream:
                await stream.until("snapshot")
            scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert scraped.status_code == 200

    password_hash = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", player.id)
    key_hash = await db.fetchval("SELECT key_hash FROM api_keys")
    secrets |= {"password hash": password_hash, "api key hash": key_hash.hex()}

    service_records = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert any(r.name == "uvicorn.access" for r in service_records)  # the server's own lines were captured
    lines = [line for line in output.getvalue().splitlines() if not _from_client(line, fmt)]
    assert lines
    leaks = [
        *(f"{name} in a record of {r.name}: {r.getMessage()[:120]}" for r in service_records for name, secret in
          secrets.items() if secret in logged_text(r)),
        *(f"{name} in the line {line[:120]}" for line in lines for name, secret in secrets.items() if secret in line),
    ]  # fmt: skip
    assert leaks == []


def _from_client(line: str, fmt: str) -> bool:
    """Whether a line is the test client's (text: date, time, level, logger, ...)."""
    if fmt == "json":
        return str(json.loads(line)["logger"]).startswith(CLIENT_LOGGERS)
    parts = line.split()
    return len(parts) > 3 and parts[3].startswith(CLIENT_LOGGERS)
