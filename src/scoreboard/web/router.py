"""`GET /`: the live leaderboard page; `/static/*`: its script, styles and icon; `/favicon.ico` for whoever asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["page"])


class RevalidatedFiles(StaticFiles):
    """Static files that browsers revalidate on every load, so a deploy's script never runs beside an old page."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        """Serve the file with `Cache-Control: no-cache` (an unchanged file still answers 304)."""
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


static_files = RevalidatedFiles(directory=STATIC)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """Serve the live leaderboard page."""
    # no-cache: a deploy's new page is picked up at once (revalidated, not re-sent when unchanged).
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    """Serve the page's icon where browsers and crawlers look for it without reading the page."""
    # The icon hardly ever changes: a day's caching spares a request on every load.
    return FileResponse(
        STATIC / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )
