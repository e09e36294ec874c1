"""The live page in a real browser (Debian's Chromium through Playwright) against a real `scoreboard serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fixtures.accounts import PASSWORD, Account, admin, player
from tests.fixtures.boards import add_board
from tests.fixtures.browser import chromium, needs_chromium
from tests.fixtures.served import Service

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium page; a screenshot of it lands in the test's output folder (tmp_path) at the end."""
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        try:
            yield page
        finally:
            await page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)


async def award(http: httpx.AsyncClient, account: Account, times: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(times):
        response = await http.post("/api/scores", json={"actionId": "complete-quest"}, headers=account.headers)
        assert response.status_code == 201, response.text
        body = response.json()
    return body


async def test_page_shows_the_top_ten_and_updates_live_then_after_a_restart(
    service: Service, page: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=service.base) as http:
        players = [await player(http) for _ in range(12)]
        for n, account in enumerate(players):
            await award(http, account, times=1 + n % 4)
        top = (await http.get("/api/leaderboard?limit=10")).json()["entries"]

        await page.goto(service.base + "/")
        await expect(page.locator("#status")).to_have_class("status live", timeout=10_000)
        rows = page.locator("#board li")
        await expect(rows).to_have_count(10)
        await expect(rows.locator(".name")).to_have_text([e["username"] for e in top])
        await expect(rows.locator(".score")).to_have_text([f"{e['score']:,}" for e in top])

        # An award made through the API shows within a second, without a reload.
        last = players[0]  # one award so far: 10 points, not in the top 10
        body = await award(http, last, times=1)
        assert body["newScore"] == 20
        winner = players[1]
        body = await award(http, winner, times=4)
        row = page.locator(f'#board li[data-id="{winner.id}"]')
        await expect(row.locator(".score")).to_have_text(f"{body['newScore']:,}", timeout=1_000)
        await expect(row.locator(".rank")).to_have_text(f"#{body['rank']}", timeout=1_000)

        # Restart the server: the page says so, reconnects by itself and is live again.
        service.stop()
        await expect(page.locator("#status")).not_to_have_class("status live", timeout=10_000)
        service.start()
        await expect(page.locator("#status")).to_have_class("status live", timeout=15_000)
        body = await award(http, winner, times=1)
        await expect(row.locator(".score")).to_have_text(f"{body['newScore']:,}", timeout=2_000)


async def test_log_in_and_press_an_action_button(service: Service, page: Any) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=service.base) as http:
        me = await player(http)
        await award(http, me, times=2)

    await page.goto(service.base + "/")
    await page.fill("#login-form input[name=login]", me.username)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#my-name")).to_have_text(me.username)
    await expect(page.locator("#my-score")).to_have_text("20")
    await expect(page.locator("#history li")).to_have_count(2)

    await page.click('#actions button[data-action="complete-quest"]')
    await expect(page.locator("#my-score")).to_have_text("30", timeout=2_000)
    await expect(page.locator("#message")).to_contain_text("+10")
    await expect(page.locator(f'#board li[data-id="{me.id}"] .score')).to_have_text("30", timeout=2_000)
    await expect(page.locator("#history li")).to_have_count(3)

    # A policy refusal reads as a sentence, not a status code: daily-login once per UTC day.
    await page.click('#actions button[data-action="daily-login"]')
    await expect(page.locator("#message")).to_contain_text("Daily Login: +5!")
    await expect(page.locator("#message")).to_have_class("message ok")
    await page.click('#actions button[data-action="daily-login"]')
    refusal = page.locator("#message")
    await expect(refusal).to_contain_text("Daily Login: 'daily-login' may be awarded at most 1 time(s) per UTC day.")
    await expect(refusal).to_contain_text("Possible again")
    await expect(refusal).to_have_class("message")
    assert "429" not in (await refusal.text_content() or "")


async def test_register_through_the_page(service: Service, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(service.base + "/")
    await page.click("#tab-register")
    await page.fill("#register-form input[name=username]", "newcomer")
    await page.fill("#register-form input[name=email]", "newcomer@example.com")
    await page.fill("#register-form input[name=password]", "short")
    await page.click("#register-form button[type=submit]")
    # The browser's own validation stops a too-short password before the API sees it.
    await expect(page.locator("#signed-in")).to_be_hidden()
    await page.fill("#register-form input[name=password]", PASSWORD)
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#my-name")).to_have_text("newcomer")
    await expect(page.locator("#message")).to_contain_text("Welcome")


async def test_only_the_chosen_tab_s_form_shows(service: Service, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(service.base + "/")
    login, register = page.locator("#login-form"), page.locator("#register-form")
    await expect(login).to_be_visible()
    await expect(register).to_be_hidden()
    await page.click("#tab-register")
    await expect(register).to_be_visible()
    await expect(login).to_be_hidden()
    await page.click("#tab-login")
    await expect(login).to_be_visible()
    await expect(register).to_be_hidden()


async def test_the_page_has_an_icon_and_nothing_it_loads_is_missing(service: Service, page: Any) -> None:
    from playwright.async_api import expect

    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status >= 400 else None)
    await page.goto(service.base + "/")
    await expect(page.locator("#status")).to_have_class("status live", timeout=10_000)

    icons = await page.eval_on_selector_all('link[rel="icon"]', "links => links.map((link) => link.href)")
    assert service.base + "/favicon.ico" in icons
    for url in icons:
        # The browser decodes each one as an image: a real icon, not just a 200.
        width = await page.evaluate(
            """(url) => new Promise((ok, fail) => {
                const image = new Image();
                image.onload = () => ok(image.naturalWidth);
                image.onerror = () => fail(new Error(`not an image: ${url}`));
                image.src = url;
            })""",
            url,
        )
        assert width >= 16, url
    # Asked for without reading the page, as browsers and crawlers do.
    response = await page.request.get(service.base + "/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert missing == []


async def test_only_the_leader_s_rank_is_gold_around_me_too(service: Service, page: Any) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=service.base) as http:
        others = [await player(http) for _ in range(4)]
        for n, account in enumerate(others):
            await award(http, account, times=5 - n)  # 50, 40, 30, 20 points
        me = await player(http)
        await award(http, me)  # 10 points: #5, so "Around me" shows #3, #4, #5

    await page.goto(service.base + "/")
    await page.fill("#login-form input[name=login]", me.username)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    around = page.locator("#around li .rank")
    await expect(around).to_have_text(["#3", "#4", "#5"])
    board = page.locator("#board li .rank")
    await expect(board).to_have_count(5)

    async def colour(rank: Any) -> str:
        return str(await rank.evaluate("(element) => getComputedStyle(element).color"))

    gold = "rgb(255, 215, 0)"
    assert await colour(board.nth(0)) == gold
    assert [await colour(board.nth(n)) for n in range(1, 5)] == [await colour(around.nth(0))] * 4
    assert gold not in [await colour(around.nth(n)) for n in range(3)]


async def test_pick_a_board_see_it_live_its_last_winners_and_my_rank_on_each_board(
    service: Service, page: Any, db: asyncpg.Connection
) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=service.base) as http:
        boss = await admin(http, db)
        today = await add_board(http, boss, "today", "daily", name="Today")
        await add_board(http, boss, "unlocks", "weekly", name="Unlocks", actions=["achievement-unlock"])
        me, rival, champion = await player(http), await player(http), await player(http)
        await award(http, me)  # today: me 10
        await award(http, rival, times=2)  # today: rival 20
        # Yesterday's standings, as the award statement would have left them.
        yesterday = (date.fromisoformat(today["currentPeriod"]) - timedelta(days=1)).isoformat()
        await db.execute(
            "INSERT INTO board_scores (board_id, period, user_id, score, reached_at)"
            " VALUES ('today', $1, $2, 70, now() - interval '1 day')",
            yesterday,
            champion.id,
        )

        await page.goto(service.base + "/")
        await page.fill("#login-form input[name=login]", me.username)
        await page.fill("#login-form input[name=password]", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#my-name")).to_have_text(me.username)
        picker = page.locator("#picker button")
        await expect(picker).to_have_text(["All time", "Today", "Unlocks"])
        await expect(page.locator("#winners")).to_be_hidden()  # all time has no last period

        await page.click('#picker button[data-board="today"]')
        assert page.url.endswith("#board=today")
        await expect(page.locator('#picker button[data-board="today"]')).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#board-name")).to_have_text("Today")
        await expect(page.locator("#period")).to_have_text(today["currentPeriod"])
        rows = page.locator("#board li")
        await expect(rows.locator(".name")).to_have_text([rival.username, me.username], timeout=5_000)
        await expect(page.locator("#winners-list li .name")).to_have_text([champion.username])
        await expect(page.locator("#winners-period")).to_have_text(f"({yesterday})")

        # My rank on each board; none yet on the one that counts only unlocks.
        mine = page.locator("#my-boards li")
        await expect(mine.locator(".name")).to_have_text(["All time", "Today", "Unlocks"])
        await expect(mine.locator(".place")).to_have_text(["#2 · 10", "#2 · 10", "not ranked yet"])
        await expect(page.locator('#my-boards li[data-board="today"]')).to_have_class("chosen")

        # Awards through the API move the board's row live, and my rank on it.
        body = await award(http, me, times=2)
        assert body["newScore"] == 30  # on the global board; on today's as well, its first award came after it began
        row = page.locator(f'#board li[data-id="{me.id}"]')
        await expect(row.locator(".score")).to_have_text("30", timeout=2_000)
        await expect(row.locator(".rank")).to_have_text("#1", timeout=2_000)
        await expect(rows.locator(".name")).to_have_text([me.username, rival.username])
        await expect(mine.locator(".place")).to_have_text(["#1 · 30", "#1 · 30", "not ranked yet"])

        await page.click('#picker button[data-board="global"]')
        await expect(page.locator("#board-name")).to_have_text("All time")
        await expect(page.locator("#winners")).to_be_hidden()
        await expect(rows.first.locator(".score")).to_have_text("30")

        # The choice is in the URL: back to it, then a reload, opens that board again.
        await page.go_back()
        assert page.url.endswith("#board=today")
        await page.reload()
        await expect(page.locator('#picker button[data-board="today"]')).to_have_attribute("aria-selected", "true")
        await expect(rows.locator(".name")).to_have_text([me.username, rival.username], timeout=5_000)
        await expect(page.locator("#winners-list li .name")).to_have_text([champion.username])


async def test_a_result_board_shows_values_lowest_first_and_moves_live(
    service: Service, page: Any, db: asyncpg.Connection
) -> None:
    from playwright.async_api import expect

    async with httpx.AsyncClient(base_url=service.base) as http:
        boss = await admin(http, db)
        await add_board(http, boss, "laps", "daily", name="Fastest lap", kind="result", sort="asc")
        created = await http.post(
            "/api/admin/api-keys", headers=boss.headers, json={"name": "race server", "scopes": ["results:write"]}
        )
        server = {"X-API-Key": created.json()["key"]}
        ana, ben = await player(http), await player(http)

        async def lap(account: Account, value: int) -> None:
            body = {"userId": str(account.id), "value": value}
            response = await http.post("/api/boards/laps/results", headers=server, json=body)
            assert response.status_code == 201, response.text

        await lap(ana, 62_000)
        await lap(ben, 61_500)
        await page.goto(service.base + "/#board=laps")
        await expect(page.locator("#board-name")).to_have_text("Fastest lap")
        rows = page.locator("#board li")
        await expect(rows.locator(".name")).to_have_text([ben.username, ana.username], timeout=5_000)
        await lap(ana, 60_900)  # a faster lap: Ana leads, live
        await expect(rows.locator(".name")).to_have_text([ana.username, ben.username], timeout=2_000)
        await expect(rows.first.locator(".score")).to_have_text("60,900")
