"""The dashboard's web application: the page, its static files, and the stream of snapshots."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from plotly.offline import get_plotlyjs
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pos_pipeline.web.feed import Feed

# A browser that has the newest snapshot still hears from the server this often, so it can tell a
# quiet warehouse from a lost connection.
KEEPALIVE_S = 5.0


def static_dir() -> str:
    """The folder of the page's own files, inside the installed package."""
    return str(resources.files("pos_pipeline.web").joinpath("static"))


def create_app(feed: Feed) -> Starlette:
    """The dashboard of ``feed``: the page, ``/static/…``, ``/events`` (SSE) and ``/api/snapshot``."""
    plotly_js = get_plotlyjs().encode()

    async def index(_request: Request) -> Response:
        return FileResponse(f"{static_dir()}/index.html", headers={"Cache-Control": "no-cache"})

    async def plotly(_request: Request) -> Response:
        # The same Plotly.js the HTML report inlines, from the plotly wheel: served offline.
        return Response(plotly_js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    async def snapshot(_request: Request) -> Response:
        return JSONResponse(feed.snapshot)

    async def events(request: Request) -> Response:
        async def stream() -> AsyncIterator[dict[str, Any]]:
            seen = -1
            while not await request.is_disconnected():
                seen = await feed.next_after(seen, KEEPALIVE_S)
                yield {"event": "snapshot", "data": json.dumps(feed.snapshot, separators=(",", ":"))}

        return EventSourceResponse(stream(), ping=15, send_timeout=10)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()

    return Starlette(
        routes=[
            Route("/", index),
            Route("/static/plotly.min.js", plotly),
            Route("/events", events),
            Route("/api/snapshot", snapshot),
            Mount("/static", StaticFiles(directory=static_dir()), name="static"),
        ],
        lifespan=lifespan,
    )
