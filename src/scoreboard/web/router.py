"""`GET /`: the live leaderboard page; `/static/*`: its script and styles."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["page"])
static_files = StaticFiles(directory=STATIC)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """Serve the live leaderboard page."""
    # no-cache: a deploy's new page and script are picked up at once (they are revalidated, not re-sent).
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
