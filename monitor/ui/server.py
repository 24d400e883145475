"""`monitor ui` HTTP server (aiohttp): `/` live topic table, `/incidents` (index, `?topic=` filter),
`/incidents/<fingerprint>`, `/runbooks/<name>` (docs/runbooks), `/api/topics`, `/api/alerts`, static files. Strict CSP and no-sniff headers on every response. Bound to 127.0.0.1 unless configured; any other bind
requires a token, given once as `?token=` (answered with a redirect to the same URL without it, setting an HttpOnly,
SameSite=Strict cookie, Secure over TLS) or as a bearer header. The access log shows paths only, never a query
string (where a token would be)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from monitor.ui import pages, runbooks
from monitor.ui.store import Store

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "monitor_ui_token"


class PathAccessLogger(AbstractAccessLogger):
    """aiohttp's access log without query strings (a `?token=` must not reach the logs) nor request headers:
    `<remote> "<method> <path>" <status> <bytes> <seconds>`."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('%s "%s %s" %s %s %.3f', request.remote, request.method, request.path, response.status,
                         response.body_length, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def make_runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log_class=PathAccessLogger)


def build_app(store: Store, token: str | None = None,
              runbooks_dir: Path | None = runbooks.DEFAULT_DIR) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if token and not request.path.startswith("/static/"):
            in_url = request.query.get("token")
            given = (in_url or request.cookies.get(COOKIE)
                     or request.headers.get("Authorization", "").removeprefix("Bearer "))
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return web.Response(status=401, text="token required", headers=_headers())
            if in_url is not None:  # once: into the cookie, and out of the address bar, history and logs
                return _login_redirect(request, token)
        resp = await handler(request)
        resp.headers.update(_headers())
        return resp

    # SQLite reads and page rendering in a worker thread: the store's lock may be held by the follower's batch
    async def index(_: web.Request) -> web.Response:
        return _html(await asyncio.to_thread(lambda: pages.index_page(store.topics(), store.alerts(20))))

    async def api_topics(_: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(lambda: pages.topic_rows(store.topics())))

    async def api_alerts(_: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(lambda: [pages.alert_row(a) for a in store.alerts(20)]))

    async def incidents(request: web.Request) -> web.Response:
        topic = request.query.get("topic") or None
        return _html(await asyncio.to_thread(
            lambda: pages.incidents_page(store.incidents(topic), store.incident_topics(), topic)))

    async def incident(request: web.Request) -> web.Response:
        return _html(*await asyncio.to_thread(incident_html, store, request.match_info["fingerprint"]))

    async def runbook(request: web.Request) -> web.Response:
        path = runbooks.find(runbooks_dir, request.match_info["name"])
        if path is None:
            known = ", ".join(runbooks.names(runbooks_dir)) or "none"
            return _html(pages.not_found(f"no runbook {request.match_info['name']} (known: {known})"), 404)
        return _html(await asyncio.to_thread(runbooks.page, path))

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", index)
    app.router.add_get("/api/topics", api_topics)
    app.router.add_get("/api/alerts", api_alerts)
    app.router.add_get("/incidents", incidents)
    app.router.add_get("/incidents/{fingerprint}", incident)
    app.router.add_get("/runbooks/{name}", runbook)
    app.router.add_static("/static/", STATIC)
    return app


def incident_html(store: Store, fingerprint: str, now_ms: int | None = None) -> tuple[str, int]:
    """The incident page with the topic's windows from an hour before it started to half an hour after it ended (or
    now) and its most negative posts; 404 when the store does not hold it."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    inc = store.incident(fingerprint)
    if inc is None:
        return pages.not_found(f"no incident {fingerprint}"), 404
    lo = inc["starts_ms"] - 60 * 60_000
    hi = (inc["ends_ms"] or now_ms) + 30 * 60_000
    windows = store.windows_between(inc["topic"], lo, hi)
    posts = store.negative_posts(inc["topic"], inc["starts_ms"], inc["ends_ms"] or hi)
    return pages.incident_page(inc, windows, posts, now_ms), 200


def _login_redirect(request: web.Request, token: str) -> web.Response:
    """303 to the same path and query minus `token`, setting the token cookie (HttpOnly, SameSite=Strict, Secure
    when served over TLS)."""
    query = [(k, v) for k, v in request.query.items() if k != "token"]
    location = request.rel_url.with_query(query) if query else request.rel_url.with_query(None)
    target = str(location)
    if target.startswith("//"):  # never a protocol-relative (off-site) redirect
        target = "/" + target.lstrip("/")
    resp = web.Response(status=303, headers={**_headers(), "Location": target})
    resp.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict", secure=request.secure)
    return resp


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": pages.CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


async def serve(settings: Any, host: str, port: int, token: str | None, store_path: str = ":memory:",
                stop: asyncio.Event | None = None, runbooks_dir: Path | None = runbooks.DEFAULT_DIR) -> None:
    from monitor.sources.http_ingest import is_loopback
    from monitor.ui.follower import follow

    if not token and not is_loopback(host):
        raise ValueError(f"binding {host} (not loopback) needs --token: incident pages show post texts")
    store = Store(store_path)
    task = asyncio.create_task(follow(settings, store))
    runner = make_runner(build_app(store, token, runbooks_dir))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        task.cancel()
        await runner.cleanup()
