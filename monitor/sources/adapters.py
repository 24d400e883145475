"""Thin network adapters (aiohttp) around the pure mappers. Each runs until `run.stop` is set; every error of the
network is a reconnect with backoff, every bad frame / item a dead-letter record, never a crash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import urlparse

import aiohttp

from monitor.sources import bluesky, mastodon, reddit, rss
from monitor.sources.runtime import SourceRun

log = logging.getLogger("monitor.sources")
NET_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)
SEEN = 2000  # ids remembered by polled sources (reddit, rss) to publish each item once


async def _retry(run: SourceRun, exc: BaseException | None) -> None:
    if run.stop.is_set():
        return
    run.metrics.reconnects.labels(run.name).inc()
    delay = run.backoff.next()
    log.warning("%s: %s; retrying in %.1f s", run.name, f"{type(exc).__name__}: {exc}" if exc else "closed", delay)
    await run.pause(delay)


async def run_bluesky(run: SourceRun, url: str) -> None:
    """Reconnects from the checkpointed cursor minus a few seconds (Jetstream's advice for a gapless resume) and
    skips the posts of that overlap it already published (ids kept in the checkpoint): no gap, no repeat."""
    state = run.checkpoint.load()
    cursor = state.get("cursor")
    seen = deque(state.get("seen", []), maxlen=SEEN)
    async with aiohttp.ClientSession() as http:
        while not run.stop.is_set():
            err: BaseException | None = None
            try:
                async with http.ws_connect(bluesky.subscribe_url(url, cursor), heartbeat=30) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                                break
                            continue
                        cursor = _bluesky_frame(run, msg.data, cursor, seen)
                        run.backoff.reset()
                        await run.save({"cursor": cursor, "seen": list(seen)})
                        if run.stop.is_set():
                            break
            except NET_ERRORS as exc:
                err = exc
            await run.save({"cursor": cursor, "seen": list(seen)}, force=True)
            await _retry(run, err)


def _bluesky_frame(run: SourceRun, data: str, cursor: int | None, seen: deque[str]) -> int | None:
    try:
        event = json.loads(data)
        post = bluesky.map_jetstream(event, run.policy)
    except bluesky.NotAPost:
        run.ignored()
        return int(event.get("time_us", cursor or 0)) or cursor
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", data.encode())
        return cursor
    if post["id"] not in seen:
        run.emit(post)
        seen.append(post["id"])
    return int(event["time_us"])


async def run_mastodon(run: SourceRun, base: str, hashtag: str | None = None, token: str | None = None,
                       local: bool = False) -> None:
    host = urlparse(base).hostname or base  # ids carry the host name (no port)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    stream = f"{base}/api/v1/streaming/" + (f"hashtag?tag={hashtag}" if hashtag else "public" + ("/local" if local
                                                                                                  else ""))
    timeline = f"{base}/api/v1/timelines/" + (f"tag/{hashtag}" if hashtag else "public")
    last = run.checkpoint.load().get("last_id")
    async with aiohttp.ClientSession(headers=headers) as http:
        while not run.stop.is_set():
            err: BaseException | None = None
            try:
                if last:  # the stream has no cursor: catch up from the REST timeline first
                    last = await _mastodon_backfill(run, http, timeline, host, last)
                async with http.get(stream, timeout=aiohttp.ClientTimeout(sock_read=90)) as resp:
                    if resp.status == 429:
                        run.metrics.rate_limited.labels(run.name).inc()
                        raise aiohttp.ClientResponseError(resp.request_info, (), status=429)
                    resp.raise_for_status()
                    parser = mastodon.SSEParser()
                    async for raw in resp.content:
                        ev = parser.feed(raw.decode("utf-8", "replace"))
                        if ev and ev[0] == "update":
                            last = _mastodon_status(run, ev[1], host, last) or last
                            run.backoff.reset()
                            await run.save({"last_id": last})
                        if run.stop.is_set():
                            break
            except NET_ERRORS as exc:
                err = exc
            await run.save({"last_id": last}, force=True)
            await _retry(run, err)


def _mastodon_status(run: SourceRun, data: str, host: str, last: str | None) -> str | None:
    """Publish one status unless it is not newer than `last` (the backfill and the stream overlap)."""
    try:
        status = json.loads(data)
        post = mastodon.map_status(status, host, run.policy)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", data.encode())
        return None
    sid = str(status["id"])
    if last is not None and mastodon.id_key(sid) <= mastodon.id_key(last):
        return None
    run.emit(post)
    return sid


async def _mastodon_backfill(run: SourceRun, http: aiohttp.ClientSession, url: str, host: str, last: str) -> str:
    while not run.stop.is_set():
        async with http.get(url, params={"min_id": last, "limit": "40"}) as resp:
            if resp.status == 429:
                run.metrics.rate_limited.labels(run.name).inc()
                await run.pause(float(resp.headers.get("Retry-After", "30") or 30))
                continue
            resp.raise_for_status()
            page = await resp.json(content_type=None)
        statuses = sorted((s for s in page if isinstance(s, dict) and "id" in s), key=lambda s: mastodon.id_key(s["id"]))
        if not statuses:
            return last
        for s in statuses:
            last = _mastodon_status(run, json.dumps(s), host, last) or last
    return last


async def _poll(run: SourceRun, http: aiohttp.ClientSession, url: str, state: dict[str, Any],
                headers: dict[str, str]) -> tuple[bytes | None, float]:
    """GET with If-None-Match / If-Modified-Since. (body or None when unchanged, seconds to wait first)."""
    h = dict(headers)
    if state.get("etag"):
        h["If-None-Match"] = state["etag"]
    if state.get("modified"):
        h["If-Modified-Since"] = state["modified"]
    async with http.get(url, headers=h) as resp:
        wait = reddit.rate_limit_wait({k.lower(): v for k, v in resp.headers.items()}, resp.status)
        if resp.status == 429:
            run.metrics.rate_limited.labels(run.name).inc()
            return None, wait
        if resp.status == 304:
            return None, wait
        resp.raise_for_status()
        state["etag"] = resp.headers.get("ETag") or state.get("etag")
        state["modified"] = resp.headers.get("Last-Modified") or state.get("modified")
        if wait:
            run.metrics.rate_limited.labels(run.name).inc()
        return await resp.read(), wait


async def run_polled(run: SourceRun, urls: list[str], interval_s: float, kind: str,
                     user_agent: str = "sentiment-monitor/0.1 (+https://github.com/)") -> None:
    """reddit (listing JSON) or rss (feeds): poll every `interval_s`, publish unseen items oldest first."""
    state = run.checkpoint.load()
    seen = deque(state.get("seen", []), maxlen=SEEN)
    per_url: dict[str, dict[str, Any]] = state.get("urls", {})
    async with aiohttp.ClientSession(headers={"User-Agent": user_agent}) as http:
        while not run.stop.is_set():
            wait, err = 0.0, None
            for url in urls:
                st = per_url.setdefault(url, {})
                try:
                    body, w = await _poll(run, http, url, st, {})
                    wait = max(wait, w)
                    digest = hashlib.sha1(body).hexdigest() if body is not None else None  # noqa: S324 - a tag
                    if body is not None and digest != st.get("sha1"):  # unchanged body: servers without ETags
                        st["sha1"] = digest
                        _publish_items(run, kind, url, body, seen)
                    run.backoff.reset()
                except NET_ERRORS as exc:
                    err = exc
                await run.save({"seen": list(seen), "urls": per_url}, force=True)
                if run.stop.is_set():
                    break
            if err is not None:
                await _retry(run, err)
            else:
                await run.pause(max(interval_s, wait))


def _publish_items(run: SourceRun, kind: str, url: str, body: bytes, seen: deque[str]) -> None:
    known = set(seen)
    if kind == "reddit":
        try:
            items = reddit.children(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", body[:100_000])
            return
        items.sort(key=lambda t: float((t.get("data") or {}).get("created_utc") or 0))
        for t in items:
            try:
                post = reddit.map_thing(t, run.policy)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", json.dumps(t).encode())
                continue
            if post["id"] not in known:
                run.emit(post)
                seen.append(post["id"])
        return
    import feedparser

    feed = feedparser.parse(body)
    if feed.get("bozo") and not isinstance(feed.get("bozo_exception"), feedparser.CharacterEncodingOverride):
        # a broken feed is reported once per distinct body; the entries that still parse are published
        run.malformed("source_malformed", f"feed {url}: {feed.get('bozo_exception')}", body[:100_000])
    now_ms = int(time.time() * 1000)
    for e in reversed(feed.get("entries", [])):  # feeds list newest first
        try:
            post = rss.map_entry(e, url, now_ms, run.policy)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            run.malformed("source_malformed", f"feed {url}: {type(exc).__name__}: {exc}",
                          json.dumps(e, default=str).encode())
            continue
        if post["id"] not in known:
            run.emit(post)
            seen.append(post["id"])
