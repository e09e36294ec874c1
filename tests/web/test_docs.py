"""`/docs`, `/redoc` and `/docs/live`: served with their own assets, so they work where nothing but the service is."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from scoreboard.web.router import STATIC
from tests.fixtures.browser import chromium, needs_chromium
from tests.fixtures.served import Service

ROOT = Path(__file__).resolve().parents[2]
# Chromium resolves this name to the service (127.0.0.1). Unlike 127.0.0.1 or localhost, Swagger UI does not take it
# for a private address, so whatever it would fetch for a public one (its validator badge) is fetched here too.
HOST = "scoreboard.test"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def asset_urls(html: str) -> list[str]:
    """Every URL a page loads by itself: scripts, style sheets, icons."""
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_docs_pages_load_their_assets_from_this_service(client: httpx.AsyncClient) -> None:
    """Both pages name only this service's files, which it serves, under a policy that allows nothing else."""
    for path, expected in (
        ("/docs", {"/static/docs/swagger-ui/swagger-ui-bundle.js", "/static/docs/swagger-ui/swagger-ui.css"}),
        ("/redoc", {"/static/docs/redoc/redoc.standalone.js"}),
    ):
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        urls = set(asset_urls(page.text))
        assert expected | {"/static/favicon.svg"} == urls, path
        for url in urls:
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content == (STATIC / url.removeprefix("/static/")).read_bytes()
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "img-src 'self' data:" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


async def test_the_vendored_ui_carries_its_licences() -> None:
    """Each vendored bundle sits beside its licence, and VERSIONS says which release it is."""
    folder = STATIC / "docs"
    assert {path.name for path in (folder / "swagger-ui").iterdir()} >= {"LICENSE", "NOTICE", "swagger-ui-bundle.js"}
    assert {path.name for path in (folder / "redoc").iterdir()} >= {"LICENSE", "redoc.standalone.js"}
    assert re.fullmatch(r"swagger-ui-dist \S+ \(Apache-2.0\)\nredoc \S+ \(MIT\)\n", (folder / "VERSIONS").read_text())


async def test_the_api_description_explains_the_websocket_and_links_the_live_page(client: httpx.AsyncClient) -> None:
    """OpenAPI cannot describe the WebSocket: the API's description says so and links to the live page."""
    description = (await client.get("/openapi.json")).json()["info"]["description"]
    assert "/api/leaderboard/ws" in description
    assert "OpenAPI cannot describe WebSockets" in description
    assert "](docs/live)" in description  # relative: from /docs and /redoc alike, under any root path


async def test_the_live_page_is_docs_live_md(client: httpx.AsyncClient) -> None:
    """`/docs/live` is docs/live.md as HTML: its headings and tables, links to unserved siblings as plain text."""
    page = await client.get("/docs/live")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Live board: SSE and WebSocket streams</h1>" in page.text
    assert "<td><code>GET /api/leaderboard/ws?limit=10</code></td>" in page.text
    for heading in re.findall(r"^#+ (.+)$", (ROOT / "docs" / "live.md").read_text(), re.MULTILINE):
        assert heading.replace("`", "") in re.sub(r"</?code>", "", page.text)
    assert 'href="performance.md' not in page.text
    assert "Figures: performance.md." in page.text
    assert "<td><code>SCOREBOARD_STREAM_MAX_CONNECTIONS</code></td>" in page.text
    assert "config-reference" not in page.text  # the generated table's markers are not shown
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_framework_s_cdn_pages_are_gone(client: httpx.AsyncClient) -> None:
    """No route of the app points a browser at a CDN (FastAPI's default pages did)."""
    for path in ("/docs", "/redoc"):
        assert "cdn." not in (await client.get(path)).text
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


@pytest.mark.slow
@needs_chromium
async def test_docs_and_redoc_render_with_nothing_but_the_service_reachable(service: Service, tmp_path: Path) -> None:
    """In a browser that can reach only the service, both UIs render the API, and nothing is asked of another host."""
    from playwright.async_api import Route, expect

    base = f"http://{HOST}:{service.port}"
    asked: list[str] = []
    elsewhere: list[str] = []
    failed: dict[str, str | None] = {}

    async def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).hostname == HOST:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async with chromium(f"--host-resolver-rules=MAP {HOST} 127.0.0.1") as browser:
        context = await browser.new_context(viewport={"width": 1200, "height": 900})
        await context.route("**/*", only_the_service)  # every tab of the context, the live page's too
        context.on("request", lambda request: asked.append(request.url))
        context.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
        page = await context.new_page()

        await page.goto(base + "/docs")
        await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Scoreboard")
        award = page.locator('.opblock-summary-path[data-path="/api/scores"]')
        await expect(award).to_have_count(1)
        await award.click()  # the operation opens: the UI works, not just its first paint
        await expect(page.locator(".opblock-body").first).to_be_visible()
        await page.screenshot(path=str(tmp_path / "docs.png"))

        async with context.expect_page() as opened:  # Swagger UI opens description links in a new tab
            await page.locator(".swagger-ui .info a", has_text="Live board: SSE and WebSocket").click()
        live = await opened.value
        await expect(live).to_have_url(base + "/docs/live")
        await expect(live.locator("h1")).to_have_text("Live board: SSE and WebSocket streams")
        await live.screenshot(path=str(tmp_path / "live.png"))

        await page.goto(base + "/redoc")
        await expect(page.locator("h1").first).to_contain_text("Scoreboard")
        await expect(page.locator("[data-section-id='tag/scores']").first).to_be_attached()
        await expect(page.get_by_text("OpenAPI cannot describe WebSockets").first).to_be_visible()
        await page.get_by_placeholder("Search...").fill("completed action")  # search runs in a worker
        found = page.locator("[data-role='search:results'] li", has_text="Report a completed action")
        await expect(found).to_have_count(1)
        await page.screenshot(path=str(tmp_path / "redoc.png"))

    assert elsewhere == [], "asked of another host"
    others = {url: failed.get(url) for url in asked if urlsplit(url).hostname not in (HOST, None)}
    # ReDoc's sidebar logo would come from its vendor's CDN: the page's policy refuses it before any request is made.
    assert others == {REDOC_LOGO: "csp"}
