"""`monitor ui` HTTP server (aiohttp): `/` live topic table, `/incidents/<fingerprint>`, `/api/topics`, static
files. Strict CSP and no-sniff headers on every response. Bound to 127.0.0.1 unless configured; any other bind
requires a token, given once as `?token=` (then kept in an HttpOnly, SameSite=Strict cookie) or as a bearer header."""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.ui import pages
from monitor.ui.store import Store

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "monitor_ui_token"


def build_app(store: Store, token: str | None = None) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if token and not request.path.startswith("/static/"):
            given = (request.query.get("token") or request.cookies.get(COOKIE)
                     or request.headers.get("Authorization", "").removeprefix("Bearer "))
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=401, text="token required", headers=_headers())
        resp = await handler(request)
        resp.headers.update(_headers())
        if token and request.query.get("token"):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return resp

    async def index(_: web.Request) -> web.Response:
        return _html(pages.index_page(store.topics(), store.alerts(20)))

    async def api_topics(_: web.Request) -> web.Response:
        return web.json_response([pages.topic_row(t) for t in store.topics()])

    async def incident(request: web.Request) -> web.Response:
        inc = store.incident(request.match_info["fingerprint"])
        if inc is None:
            return _html(pages.not_found(f"no incident {request.match_info['fingerprint']}"), 404)
        lo = inc["starts_ms"] - 60 * 60_000
        hi = (inc["ends_ms"] or int(time.time() * 1000)) + 30 * 60_000
        windows = store.windows_between(inc["topic"], lo, hi)
        end = inc["ends_ms"] or hi
        posts = store.negative_posts(inc["topic"], inc["starts_ms"], end)
        return _html(pages.incident_page(inc, windows, posts))

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", index)
    app.router.add_get("/api/topics", api_topics)
    app.router.add_get("/incidents/{fingerprint}", incident)
    app.router.add_static("/static/", STATIC)
    return app


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": pages.CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def serve(settings: Any, host: str, port: int, token: str | None, store_path: str = ":memory:",
                stop: asyncio.Event | None = None) -> None:
    from monitor.sources.http_ingest import is_loopback
    from monitor.ui.follower import follow

    if not token and not is_loopback(host):
        raise ValueError(f"binding {host} (not loopback) needs --token: incident pages show post texts")
    store = Store(store_path)
    task = asyncio.create_task(follow(settings, store))
    runner = web.AppRunner(build_app(store, token))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        task.cancel()
        await runner.cleanup()
