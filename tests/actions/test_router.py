"""The action catalog: public list, admin changes that apply to future awards only."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.fixtures.accounts import admin, player


async def test_public_list_shows_active_actions_with_policy(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Anyone sees the active catalog with the seed's points and the policy defaults."""
    await db.execute("UPDATE actions SET is_active = false WHERE id = 'purchase-item'")
    actions = {a["id"]: a for a in (await client.get("/api/actions")).json()}
    assert set(actions) == {"complete-quest", "daily-login", "achievement-unlock", "referral-signup"}
    assert (actions["daily-login"]["points"], actions["daily-login"]["maxPerDay"]) == (5, 1)
    assert actions["referral-signup"]["clientReportable"] is False
    assert actions["complete-quest"]["cooldownSeconds"] is None


async def test_admin_creates_changes_and_deactivates(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Create, patch (points and policy), clear a policy with null, deactivate; all visible to admins."""
    boss = await admin(client, db)
    body = {"id": "boss-defeated", "name": "Boss Defeated", "points": 40, "cooldownSeconds": 60}
    created = await client.post("/api/admin/actions", headers=boss.headers, json=body)
    assert (created.status_code, created.json()["clientReportable"]) == (201, True)
    assert (await client.post("/api/admin/actions", headers=boss.headers, json=body)).status_code == 409
    patched = await client.patch(
        "/api/admin/actions/boss-defeated", headers=boss.headers, json={"points": 45, "cooldownSeconds": None}
    )
    assert (patched.json()["points"], patched.json()["cooldownSeconds"]) == (45, None)
    off = await client.post("/api/admin/actions/boss-defeated/deactivate", headers=boss.headers)
    assert off.json()["isActive"] is False
    assert "boss-defeated" not in {a["id"] for a in (await client.get("/api/actions")).json()}
    every = {a["id"] for a in (await client.get("/api/admin/actions", headers=boss.headers)).json()}
    assert "boss-defeated" in every
    assert (await client.patch("/api/admin/actions/nope", headers=boss.headers, json={"points": 1})).status_code == 404


async def test_changes_apply_to_future_awards_only(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Changing points leaves past history as it was; the next award uses the new value."""
    boss = await admin(client, db)
    account = await player(client)
    first = await client.post("/api/scores", headers=account.headers, json={"actionId": "complete-quest"})
    await client.patch("/api/admin/actions/complete-quest", headers=boss.headers, json={"points": 30})
    second = await client.post("/api/scores", headers=account.headers, json={"actionId": "complete-quest"})
    assert (first.json()["scoreChange"], second.json()["scoreChange"], second.json()["newScore"]) == (10, 30, 40)
    assert await db.fetchval("SELECT array_agg(points_awarded ORDER BY id) FROM score_history") == [10, 30]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "bad id", "name": "x", "points": 1},
        {"id": "ok", "name": "", "points": 1},
        {"id": "ok", "name": "x", "points": 0},
        {"id": "ok", "name": "x", "points": -5},
        {"id": "ok", "name": "x", "points": 1, "cooldownSeconds": 0},
        {"id": "ok", "name": "x", "points": 1, "maxPerDay": 0},
        {"id": "ok", "name": "x", "points": 1, "isActive": False, "extra": 1},
        {"id": "x" * 101, "name": "x", "points": 1},
    ],
)
async def test_invalid_actions_are_422(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: dict[str, object]
) -> None:
    """Every rule of the catalog is checked before the database."""
    boss = await admin(client, db)
    assert (await client.post("/api/admin/actions", headers=boss.headers, json=body)).status_code == 422


@pytest.mark.parametrize("body", [{"points": None}, {"name": None}, {"isActive": None}, {"points": 0}, {"id": "x"}])
async def test_invalid_patches_are_422(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: dict[str, object]
) -> None:
    """Required fields cannot be nulled; ids cannot change."""
    boss = await admin(client, db)
    assert (await client.patch("/api/admin/actions/complete-quest", headers=boss.headers, json=body)).status_code == 422


# Typed as JSON types them: a string, a float or a boolean is not an integer; a number or a string is not a boolean.
LOOSE_INTEGERS = ["10", 10.0, True, "1e1"]
LOOSE_BOOLEANS = [0, 1, "true", "false", "yes"]
LOOSE = [
    *[
        pytest.param(field, value, id=f"{field}={value!r}")
        for field in ("points", "cooldownSeconds", "maxPerDay")
        for value in LOOSE_INTEGERS
    ],
    *[
        pytest.param(field, value, id=f"clientReportable={value!r}")
        for field in ("clientReportable",)
        for value in LOOSE_BOOLEANS
    ],
]


@pytest.mark.parametrize(("field", "value"), LOOSE)
async def test_admin_bodies_are_typed_strictly(
    client: httpx.AsyncClient, db: asyncpg.Connection, field: str, value: object
) -> None:
    """`"10"` and `true` are not points, `0` is not a flag: a 422 naming the field, and nothing changes."""
    boss = await admin(client, db)
    body = {"id": "strict-action", "name": "Strict", "points": 3, field: value}
    created = await client.post("/api/admin/actions", headers=boss.headers, json=body)
    assert created.status_code == 422, created.text
    assert [error["loc"] for error in created.json()["errors"]] == [["body", field]]
    patched = await client.patch("/api/admin/actions/complete-quest", headers=boss.headers, json={field: value})
    assert patched.status_code == 422, patched.text
    assert [error["loc"] for error in patched.json()["errors"]] == [["body", field]]
    assert await db.fetchval("SELECT count(*) FROM actions WHERE id = 'strict-action'") == 0
    row = await db.fetchrow(
        "SELECT points, cooldown_seconds, max_per_day, client_reportable FROM actions WHERE id = 'complete-quest'"
    )
    assert tuple(row) == (10, None, None, True)


@pytest.mark.parametrize("value", LOOSE_BOOLEANS)
async def test_is_active_is_a_boolean(client: httpx.AsyncClient, db: asyncpg.Connection, value: object) -> None:
    """A patch's isActive takes only true or false."""
    boss = await admin(client, db)
    response = await client.patch("/api/admin/actions/complete-quest", headers=boss.headers, json={"isActive": value})
    assert response.status_code == 422, response.text
    assert await db.fetchval("SELECT is_active FROM actions WHERE id = 'complete-quest'") is True


async def test_typed_admin_bodies_are_accepted(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """The strict models still take what JSON types properly."""
    boss = await admin(client, db)
    body = {
        "id": "typed",
        "name": "Typed",
        "points": 7,
        "cooldownSeconds": 60,
        "maxPerDay": 3,
        "clientReportable": False,
    }
    created = await client.post("/api/admin/actions", headers=boss.headers, json=body)
    assert created.status_code == 201, created.text
    patched = await client.patch(
        "/api/admin/actions/typed", headers=boss.headers, json={"points": 8, "isActive": False}
    )
    assert (patched.json()["points"], patched.json()["isActive"]) == (8, False)
