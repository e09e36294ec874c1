"""Admin analytics: numbers on known data, JSON and CSV, Accept negotiation, bounds, authorisation."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from scoreboard.analytics.rendering import CSV, JSON, NotAcceptable, negotiate
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.factories import award, create_user
from tests.fixtures.problems import assert_problem

BASE = "/api/admin/analytics"
ENDPOINTS = ["top-actions", "daily", "growth", "top-performers"]
POINTS = {"complete-quest": 10, "daily-login": 5, "achievement-unlock": 25, "referral-signup": 50, "purchase-item": 100}


@dataclass
class World:
    """Known players and awards, relative to now."""

    now: datetime
    users: dict[str, UUID]
    awards: list[tuple[str, str, datetime]]  # (who, action, when)


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """A logged-in admin (signed up today, no score)."""
    return await admin(client, db)


@pytest.fixture
async def world(db: asyncpg.Connection, boss: Account) -> World:
    """ann and bob signed up yesterday, cat (deactivated) 40 days ago, dan 100 days ago; awards spread over 20 days."""
    now = datetime.now(UTC)
    users = {
        "ann": await create_user(db, username="ann", created_at=now - timedelta(days=1)),
        "bob": await create_user(db, username="bob", created_at=now - timedelta(days=1)),
        "cat": await create_user(db, username="cat", created_at=now - timedelta(days=40), is_active=False),
        "dan": await create_user(db, username="dan", created_at=now - timedelta(days=100)),
    }
    awards = [
        ("ann", "complete-quest", now - timedelta(hours=1)),
        ("ann", "complete-quest", now - timedelta(days=2)),
        ("ann", "purchase-item", now - timedelta(days=3)),
        ("bob", "daily-login", now - timedelta(hours=1)),
        ("bob", "daily-login", now - timedelta(days=5)),
        ("bob", "achievement-unlock", now - timedelta(days=10)),
        ("cat", "purchase-item", now - timedelta(days=1)),
        ("dan", "referral-signup", now - timedelta(days=20)),
    ]
    for who, action, at in sorted(awards, key=lambda a: a[2]):
        await award(db, users[who], action, at=at)
    return World(now, users, awards)


async def get(client: httpx.AsyncClient, boss: Account, path: str, **params: Any) -> dict[str, Any]:
    """GET a report as JSON."""
    response = await client.get(f"{BASE}/{path}", params=params, headers=boss.headers)
    assert response.status_code == 200, response.text
    assert (response.headers["content-type"], response.headers["vary"]) == ("application/json", "Accept")
    body: dict[str, Any] = response.json()
    return body


async def test_top_actions(client: httpx.AsyncClient, boss: Account, world: World) -> None:
    """Frequency and points per action in the window, most frequent first (seed query 6)."""
    week = await get(client, boss, "top-actions", days=7)
    assert week["days"] == 7
    assert abs(datetime.fromisoformat(week["since"]) - (world.now - timedelta(days=7))) < timedelta(minutes=1)
    assert [(i["actionId"], i["actionName"], i["frequency"], i["totalPoints"]) for i in week["items"]] == [
        ("purchase-item", "Purchase Item", 2, 200),  # deactivated players' awards still happened
        ("complete-quest", "Complete Quest", 2, 20),
        ("daily-login", "Daily Login", 2, 10),
    ]
    month = await get(client, boss, "top-actions", days=30, limit=4)
    assert [(i["actionId"], i["frequency"]) for i in month["items"]] == [
        ("purchase-item", 2),
        ("complete-quest", 2),
        ("daily-login", 2),
        ("referral-signup", 1),
    ]


async def test_daily(client: httpx.AsyncClient, boss: Account, world: World) -> None:
    """Per UTC day: active players, awards, total, mean and largest award; whole days, newest first (query 11)."""
    report = await get(client, boss, "daily", days=30)
    since = datetime.fromisoformat(report["since"])
    today = world.now.astimezone(UTC).date()
    assert since == datetime.combine(today - timedelta(days=29), datetime.min.time(), UTC)
    expected: dict[date, list[tuple[str, int]]] = defaultdict(list)
    for who, action, at in world.awards:
        if at >= since:
            expected[at.astimezone(UTC).date()].append((who, POINTS[action]))
    assert [
        (i["day"], i["activeUsers"], i["actions"], i["totalPoints"], i["avgPoints"], i["maxPoints"])
        for i in report["items"]
    ] == [
        (
            day.isoformat(),
            len({who for who, _ in rows}),
            len(rows),
            sum(p for _, p in rows),
            round(sum(p for _, p in rows) / len(rows), 2),
            max(p for _, p in rows),
        )
        for day, rows in sorted(expected.items(), reverse=True)
    ]
    assert len((await get(client, boss, "daily", days=1))["items"]) <= 1


async def test_growth(client: httpx.AsyncClient, boss: Account, world: World, db: asyncpg.Connection) -> None:
    """Sign-ups per UTC day with those users' scores today (seed query 12)."""
    yesterday = (world.now - timedelta(days=1)).date()
    report = await get(client, boss, "growth", days=90)
    rows = [(i["signupDate"], i["newUsers"], i["totalScore"]) for i in report["items"]]
    expected = {yesterday.isoformat(): (2, 120 + 35)}
    # The admin signed up just before `world.now`: on its own UTC day, even if the test straddles midnight.
    boss_day = (await db.fetchval("SELECT created_at FROM users WHERE id = $1", boss.id)).astimezone(UTC).date()
    count, score = expected.get(boss_day.isoformat(), (0, 0))
    expected[boss_day.isoformat()] = (count + 1, score)
    expected[(world.now - timedelta(days=40)).date().isoformat()] = (1, 100)  # cat, though deactivated
    # dan signed up 100 days ago: outside the window.
    assert rows == sorted(((d, n, s) for d, (n, s) in expected.items()), reverse=True)
    assert len((await get(client, boss, "growth", days=30))["items"]) == len({boss_day, yesterday})


async def test_top_performers(client: httpx.AsyncClient, boss: Account, world: World) -> None:
    """Active players by points in the window; deactivated and idle players are left out (seed query 13)."""
    week = await get(client, boss, "top-performers", days=7)
    assert [(i["username"], i["currentScore"], i["recentPoints"], i["recentActions"]) for i in week["items"]] == [
        ("ann", 120, 120, 3),
        ("bob", 35, 10, 2),
    ]
    assert week["items"][0]["userId"] == str(world.users["ann"])
    month = await get(client, boss, "top-performers", days=30)
    assert [(i["username"], i["recentPoints"]) for i in month["items"]] == [("ann", 120), ("dan", 50), ("bob", 35)]
    assert [i["username"] for i in (await get(client, boss, "top-performers", days=30, limit=1))["items"]] == ["ann"]


async def test_empty_reports(client: httpx.AsyncClient, boss: Account) -> None:
    """No awards: empty lists, not errors."""
    for path in ("top-actions", "daily", "top-performers"):
        assert (await get(client, boss, path))["items"] == []


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_csv_has_a_header_and_the_same_rows(
    client: httpx.AsyncClient, boss: Account, world: World, path: str
) -> None:
    """`Accept: text/csv` gives the JSON items as CSV: a header row of the field names, then one line per item."""
    as_json = await get(client, boss, path, days=30)
    response = await client.get(f"{BASE}/{path}", params={"days": 30}, headers={**boss.headers, "Accept": CSV})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    assert response.headers["content-disposition"] == f'attachment; filename="{path}-30d.csv"'
    assert response.text.endswith("\r\n")
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header == list(as_json["items"][0])
    assert rows == [[str(v) for v in item.values()] for item in as_json["items"]]


async def test_empty_csv_still_has_its_header(client: httpx.AsyncClient, boss: Account) -> None:
    """A report without rows is a header line alone."""
    response = await client.get(f"{BASE}/top-actions", headers={**boss.headers, "Accept": CSV})
    assert response.text == "actionId,actionName,frequency,totalPoints\r\n"


async def test_csv_cells_cannot_become_formulas(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """A text cell starting with = + - @ is prefixed with ' in CSV (spreadsheet formula injection); JSON is as is."""
    name = '=HYPERLINK("http://evil.example","x")'
    await db.execute("INSERT INTO actions (id, name, points) VALUES ('evil', $1, 3)", name)
    user = await create_user(db, username="-sneaky")
    await award(db, user, "evil")
    assert (await get(client, boss, "top-actions"))["items"][0]["actionName"] == name
    headers = {**boss.headers, "Accept": CSV}
    actions = list(csv.DictReader(io.StringIO((await client.get(f"{BASE}/top-actions", headers=headers)).text)))
    assert actions[0]["actionName"] == "'" + name
    people = list(csv.DictReader(io.StringIO((await client.get(f"{BASE}/top-performers", headers=headers)).text)))
    assert people[0]["username"] == "'-sneaky"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("text/csv", CSV),
        ("text/*", CSV),
        ("TEXT/CSV", CSV),
        ("text/csv; charset=utf-8", CSV),
        ("text/csv;q=0.5, application/json", JSON),
        ("application/json;q=0.1, text/csv", CSV),
        ("application/json;q=0, */*", CSV),
        ("text/html, */*;q=0.1", JSON),
        ("text/csv, */*;q=0", CSV),
        ("text/csv;q=0.8, text/*;q=0", CSV),
        ("application/json;q=0.999, text/csv;q=1.000", CSV),
        ("application/json;q=2, text/csv;q=0.5", CSV),
    ],
)
def test_negotiation_picks_json_or_csv(accept: str | None, chosen: str) -> None:
    """Weights, wildcards and specificity decide; equal weights prefer JSON."""
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    "accept",
    ["application/xml", "text/csv;q=0", "text/csv;q=abc", "text/csv;q=nan", "image/png, text/html", "*/*;q=0"],
)
async def test_nothing_acceptable_is_406(client: httpx.AsyncClient, boss: Account, accept: str) -> None:
    """A client that accepts neither JSON nor CSV gets a 406 problem, not a format it did not ask for."""
    with pytest.raises(NotAcceptable):
        negotiate(accept)
    response = await client.get(f"{BASE}/daily", headers={**boss.headers, "Accept": accept})
    assert_problem(response, 406)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("params", [{"days": 0}, {"days": 366}, {"days": -1}, {"days": "week"}, {"days": 1.5}])
async def test_days_out_of_range_are_422(
    client: httpx.AsyncClient, boss: Account, path: str, params: dict[str, Any]
) -> None:
    """`days` is 1..365 everywhere."""
    assert_problem(await client.get(f"{BASE}/{path}", params=params, headers=boss.headers), 422)


@pytest.mark.parametrize("path", ["top-actions", "top-performers"])
@pytest.mark.parametrize("limit", [0, 101, "all"])
async def test_limits_out_of_range_are_422(client: httpx.AsyncClient, boss: Account, path: str, limit: Any) -> None:
    """`limit` is 1..100."""
    assert_problem(await client.get(f"{BASE}/{path}", params={"limit": limit}, headers=boss.headers), 422)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_bounds_themselves_are_accepted(client: httpx.AsyncClient, boss: Account, path: str) -> None:
    """1 and 365 days (and limits 1 and 100) work."""
    for days in (1, 365):
        await get(client, boss, path, days=days)
    if path in ("top-actions", "top-performers"):
        for limit in (1, 100):
            await get(client, boss, path, limit=limit)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_only_admins(client: httpx.AsyncClient, path: str) -> None:
    """Players get 403 (also when asking for CSV), anonymous callers 401."""
    me = await player(client)
    assert_problem(await client.get(f"{BASE}/{path}", headers=me.headers), 403)
    assert_problem(await client.get(f"{BASE}/{path}", headers={**me.headers, "Accept": CSV}), 403)
    assert_problem(await client.get(f"{BASE}/{path}"), 401)
