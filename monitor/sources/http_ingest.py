"""Generic HTTP ingest: `POST /ingest` with one JSON post, a JSON array of posts, or JSON lines
(`Content-Type: application/x-ndjson`). Bearer-token auth (required whenever a token is configured, and a token is
required to bind anything but loopback); body capped at `max_body_bytes`; each post is validated with the worker's
own decoder. 202 {"accepted": [ids], "rejected": [{index, reason, detail}]} once the accepted posts are acknowledged
by the broker; 503 when any of this request's posts was not acknowledged within `ack_timeout_s` (a broker outage
answers in seconds, and /healthz keeps answering); 400 when nothing was accepted; 401 / 413 / 415 with a reason."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from typing import Any

from aiohttp import web

from monitor.sources.runtime import SourceRun

MAX_POSTS = 1000


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """JSON object, JSON array or JSON lines -> list of items (ValueError with a reason on bad input)."""
    if content_type not in ("application/json", "application/x-ndjson", "application/jsonl",
                            "application/json-lines"):
        raise TypeError(f"Content-Type {content_type!r}: use application/json or application/x-ndjson")
    try:
        if content_type != "application/json":
            return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        obj = json.loads(body.decode("utf-8"))
    except RecursionError:  # deeply nested JSON: a 400 with a reason, not a 500
        raise ValueError("JSON nested too deeply") from None
    return obj if isinstance(obj, list) else [obj]


def build_app(run: SourceRun, token: str | None, max_body_bytes: int = 8 * 2**20,
              ack_timeout_s: float = 10.0) -> web.Application:
    async def ingest(request: web.Request) -> web.Response:
        if token:
            got = request.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                return web.json_response({"error": "unauthorized", "detail": "Authorization: Bearer <token>"},
                                         status=401)
        if (request.content_length or 0) > max_body_bytes:
            return web.json_response({"error": "too_large", "detail": f"body > {max_body_bytes} bytes"}, status=413)
        try:
            body = await request.read()  # the whole body (chunked too), capped by client_max_size
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "too_large", "detail": f"body > {max_body_bytes} bytes"}, status=413)
        try:
            items = parse_body(body, request.content_type)
        except TypeError as exc:
            return web.json_response({"error": "unsupported_media_type", "detail": str(exc)}, status=415)
        except (ValueError, UnicodeDecodeError) as exc:
            return web.json_response({"error": "invalid_json", "detail": str(exc)[:300]}, status=400)
        if len(items) > MAX_POSTS:
            return web.json_response({"error": "too_many_posts", "detail": f"{len(items)} > {MAX_POSTS}"}, status=413)
        offers = [run.offer(item, dead_letter=False, track=False) for item in items]  # never blocks (#30.9)
        rejected = [{"index": i, "reason": o.reason, "detail": o.detail} for i, o in enumerate(offers) if not o.ok]
        sent = [o for o in offers if o.ok]
        # durable before 202, judged on this request's own records only (#30.4): a concurrent request's failure
        # cannot turn this answer into a 503, nor this one's into a 202
        done, pending = await asyncio.wait([asyncio.wrap_future(o.future) for o in sent if o.future is not None],
                                           timeout=ack_timeout_s) if sent else (set(), set())
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed or pending:
            for f in pending:
                f.cancel()
            detail = (f"{len(failed) + len(pending)} of {len(sent)} post(s) not acknowledged by the broker"
                      + (f" within {ack_timeout_s:g} s" if pending else "")
                      + (f", e.g. {type(failed[0]).__name__}: {failed[0]}" if failed else "")
                      + "; resend them (post ids make a resend harmless)")
            return web.json_response({"error": "unavailable", "detail": detail[:300]}, status=503)
        return web.json_response({"accepted": [o.post_id for o in sent], "rejected": rejected},
                                 status=202 if sent else 400)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post("/ingest", ingest)
    app.router.add_get("/healthz", health)
    return app


async def serve(run: SourceRun, host: str, port: int, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise ValueError(f"binding {host} (not loopback) needs --token: the endpoint would accept anyone's posts")
    runner = web.AppRunner(build_app(run, token))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await run.stop.wait()
    finally:
        await runner.cleanup()
