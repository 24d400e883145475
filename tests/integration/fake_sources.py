"""Local stand-ins for the public sources, serving their documented wire formats on 127.0.0.1 (aiohttp in a
background thread): Jetstream WebSocket with cursors, Mastodon SSE + timeline, Reddit listing JSON with ETag and rate
limits, an RSS feed with ETag. Each can disconnect mid-stream, send a malformed frame, or answer 429."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.broker import free_port

FIX = Path(__file__).resolve().parents[2] / "monitor" / "sources" / "fixtures"


def jetstream_events(n_extra: int = 10) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (FIX / "jetstream.jsonl").read_text().splitlines()]
    for i in range(n_extra):
        events.append({"did": f"did:plc:x{i}", "time_us": 1732000000000100 + i * 1_000_000, "kind": "commit",
                       "commit": {"rev": f"x{i}", "operation": "create", "collection": "app.bsky.feed.post",
                                  "rkey": f"r{i}", "cid": f"c{i}",
                                  "record": {"$type": "app.bsky.feed.post", "createdAt": "2026-11-29T10:01:00Z",
                                             "text": f"post {i} about $ACME"}}})
    return events


def statuses(n: int) -> list[dict[str, Any]]:
    base = json.loads((FIX / "mastodon_status.json").read_text())
    return [{**base, "id": str(109000000000000200 + i), "uri": f"https://example.social/users/ann/statuses/{i}",
             "content": f"<p>status {i} on #acme</p>", "media_attachments": []} for i in range(n)]


class FakeSources:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.events = jetstream_events()
        self.ws_cursors: list[int | None] = []
        self.ws_disconnect_after = 4  # first connection only
        self.statuses = statuses(12)
        self.sse_pointer = 0
        self.sse_connections = 0
        self.reddit_calls = 0
        self.timeline_calls = 0
        self.feed2_calls = 0
        self.reddit_listing = json.loads((FIX / "reddit_new.json").read_text())
        self.rss_body = (FIX / "feed.xml").read_bytes()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    # ---- Jetstream
    async def subscribe(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        cursor = int(request.query["cursor"]) if "cursor" in request.query else None
        self.ws_cursors.append(cursor)
        first = len(self.ws_cursors) == 1
        sent = 0
        for ev in self.events:
            if cursor is not None and ev["time_us"] < cursor:
                continue
            if first and sent == 2:
                await ws.send_str("{not json")  # a malformed frame
            await ws.send_str(json.dumps(ev))
            sent += 1
            if first and sent >= self.ws_disconnect_after:
                await ws.close()  # a disconnect in the middle of the stream
                return ws
        await asyncio.sleep(30)  # live: nothing more for now
        return ws

    # ---- Mastodon
    async def streaming(self, request: web.Request) -> web.StreamResponse:
        self.sse_connections += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b":thump\n\n")
        n = 0
        while self.sse_pointer < len(self.statuses):
            st = self.statuses[self.sse_pointer]
            self.sse_pointer += 1
            await resp.write(f"event: update\ndata: {json.dumps(st)}\n\n".encode())
            n += 1
            if self.sse_connections == 1 and n == 2:
                await resp.write(b"event: update\ndata: {broken\n\nevent: delete\ndata: 123\n\n")
            if self.sse_connections == 1 and n == 4:
                return resp  # disconnect
        await asyncio.sleep(30)
        return resp

    async def timeline(self, request: web.Request) -> web.Response:
        self.timeline_calls += 1
        if self.timeline_calls == 1:  # the first backfill request is rate-limited
            return web.json_response({"error": "Too many requests"}, status=429, headers={"Retry-After": "1"})
        min_id = request.query.get("min_id")
        newer = [s for s in self.statuses[: self.sse_pointer + 3]  # the server knows a few the stream has not sent
                 if min_id is None or (len(s["id"]), s["id"]) > (len(min_id), min_id)]
        return web.json_response(list(reversed(newer[:int(request.query.get("limit", 40))])))

    # ---- Reddit
    async def reddit_new(self, request: web.Request) -> web.Response:
        self.reddit_calls += 1
        self.requests.append(("reddit", dict(request.headers)))
        if self.reddit_calls == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        etag = f'"v{len(self.reddit_listing["data"]["children"])}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.json_response(self.reddit_listing, headers={"ETag": etag, "X-Ratelimit-Remaining": "99",
                                                               "X-Ratelimit-Reset": "60"})

    # ---- RSS
    async def feed(self, request: web.Request) -> web.Response:
        self.requests.append(("rss", dict(request.headers)))
        etag = f'"{hash(self.rss_body) & 0xffff}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=self.rss_body, content_type="application/rss+xml", headers={"ETag": etag})

    async def feed2(self, request: web.Request) -> web.Response:
        self.feed2_calls += 1
        if self.feed2_calls == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        body = self.rss_body.replace(b"news.example.com/a", b"news.example.com/b")
        return web.Response(body=body, content_type="application/rss+xml")

    async def reddit_bad(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "t3", "data": {}})  # not a Listing

    async def bad_feed(self, request: web.Request) -> web.Response:
        return web.Response(body=b"<rss><channel><item><title>unterminated", content_type="application/rss+xml")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/subscribe", self.subscribe)
        app.router.add_get("/api/v1/streaming/public", self.streaming)
        app.router.add_get("/api/v1/timelines/public", self.timeline)
        app.router.add_get("/r/stocks/new.json", self.reddit_new)
        app.router.add_get("/feed.xml", self.feed)
        app.router.add_get("/bad.xml", self.bad_feed)
        app.router.add_get("/feed2.xml", self.feed2)
        app.router.add_get("/r/bad/new.json", self.reddit_bad)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def add_reddit(self, name: str, title: str, created: float) -> None:
        self.reddit_listing["data"]["children"].insert(0, {"kind": "t3", "data": {
            "name": name, "id": name[3:], "title": title, "selftext": "", "author": "x", "created_utc": created,
            "subreddit": "stocks", "permalink": f"/r/stocks/{name}", "url": "", "post_hint": "self"}})
