"""`/docs` (Swagger UI), `/redoc` and `/docs/live`, with every asset served by the service itself (no CDN)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from markdown_it.token import Token

from scoreboard.kit.problems import NotFound
from scoreboard.kit.routing import Route

ASSETS = "/static/docs"  # src/scoreboard/web/static/docs, filled by scripts/vendor-docs-ui
LIVE_PAGE = "docs/live"
# The wheel carries docs/live.md beside this module (pyproject's force-include); a checkout reads it in place.
LIVE_SOURCES = (Path(__file__).with_name("live.md"), Path(__file__).resolve().parents[3] / "docs" / "live.md")

API_DESCRIPTION = f"""\
Every error is an RFC 9457 `application/problem+json` document (the `Problem` schema).

**Live board.** `GET /api/leaderboard/stream` (Server-Sent Events) is listed below. Its WebSocket twin,
`GET /api/leaderboard/ws`, is not: OpenAPI cannot describe WebSockets. Every board has the same pair:
`GET /api/boards/{{id}}/stream` (listed) and `GET /api/boards/{{id}}/ws` (not), with `period_end` when a period
closes. The streams, their events, resuming with `Last-Event-ID`, slow clients and limits are described in
[Live board: SSE and WebSocket]({LIVE_PAGE}) (`docs/live.md` in the repository).
"""

router = APIRouter(tags=["docs"], route_class=Route)

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _policy(html: str, *, workers: bool = False) -> str:
    """A Content-Security-Policy that lets the page load from this origin only and run just its own inline script."""
    # Images are held to this origin too: ReDoc's sidebar logo would otherwise be fetched from its vendor's CDN.
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _SCRIPT.findall(html)
    )
    directives = [
        "default-src 'self'",
        f"script-src 'self' {hashes}".rstrip(),
        # Both UIs add style elements at run time.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
    ]
    if workers:
        directives.append("worker-src 'self' blob:")  # ReDoc's search index runs in a worker made from a blob
    return "; ".join(directives)


def _secured(page: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    """Serve `page` under its Content-Security-Policy."""
    page.headers["Content-Security-Policy"] = _policy(bytes(page.body).decode(), workers=workers)
    return page


def _root(request: Request) -> str:
    """The prefix the app is served under (a proxy's `root_path`), as FastAPI's own docs pages use it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Serve Swagger UI on this service's OpenAPI document."""
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=root + str(request.app.openapi_url),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        # No badge from the public validator: it would send it this document's URL, and fail offline.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _secured(page)


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    """Serve ReDoc on this service's OpenAPI document."""
    root = _root(request)
    page = get_redoc_html(
        openapi_url=root + str(request.app.openapi_url),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/favicon.svg",
        with_google_fonts=False,
    )
    return _secured(page, workers=True)


def _is_sibling(href: str) -> bool:
    """Whether `href` points at another document beside docs/live.md (no scheme, anchor or absolute path)."""
    return not re.match(r"[a-z][a-z0-9+.-]*:|#|/", href, re.IGNORECASE)


def _unlink_siblings(tokens: list[Token]) -> list[Token]:
    """Keep the text of links to sibling documents, which this service does not serve, and drop the links."""
    for block in tokens:
        if block.children is None:
            continue
        kept: list[Token] = []
        dropping = False
        for token in block.children:
            if token.type == "link_open":
                dropping = _is_sibling(str(token.attrGet("href") or ""))
                if dropping:
                    continue
            elif token.type == "link_close" and dropping:
                dropping = False
                continue
            kept.append(token)
        block.children = kept
    return tokens


@cache
def _live_html() -> str | None:
    """docs/live.md as a page, or None when this installation lacks it."""
    source = next((path for path in LIVE_SOURCES if path.is_file()), None)
    if source is None:
        return None
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    # Raw HTML stays off; the document's only HTML is comments (markers of generated tables), which go.
    text = re.sub(r"<!--.*?-->\n?", "", source.read_text(encoding="utf-8"), flags=re.DOTALL)
    tokens = _unlink_siblings(markdown.parse(text))
    body = markdown.renderer.render(tokens, markdown.options, {})
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scoreboard - Live board: SSE and WebSocket</title>
<link rel="icon" href="../static/favicon.svg" type="image/svg+xml">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
code, pre {{ font: 0.9em ui-monospace, monospace; background: #f4f4f4; }}
pre {{ padding: 0.75rem; overflow-x: auto; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
nav {{ margin-bottom: 1rem; }}
</style>
</head>
<body>
<nav><a href="../docs">API reference (Swagger UI)</a> · <a href="../redoc">ReDoc</a></nav>
<main>
{body}</main>
</body>
</html>
"""


@router.get("/docs/live", include_in_schema=False)
async def live_page() -> HTMLResponse:
    """Serve docs/live.md (the SSE and WebSocket streams, which OpenAPI cannot fully describe) as a page."""
    html = _live_html()
    if html is None:
        raise NotFound("docs/live.md is not part of this installation")
    page = HTMLResponse(html, headers={"Cache-Control": "no-cache"})
    page.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
    return page
