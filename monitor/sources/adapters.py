"""Thin network adapters (aiohttp) around the pure mappers. Each runs until `run.stop` is set; every error of the
network or the broker is a reconnect with backoff, every bad frame / item a dead-letter record, never a crash.

Checkpoints move only after a producer flush that every record survived (`Publisher.flush` raises DeliveryFailed
otherwise); after a failed delivery an adapter rewinds to its last checkpoint, so nothing is skipped."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import quote, urlparse

import aiohttp
from kafka.errors import KafkaError

from monitor.retry import parse_retry_after
from monitor.sources import bluesky, mastodon, reddit, rss
from monitor.sources.runtime import DeliveryFailed, SourceRun

log = logging.getLogger("monitor.sources")
NET_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)
RETRY_ERRORS = (*NET_ERRORS, DeliveryFailed, KafkaError, ValueError, TypeError, KeyError)
SEEN = 2000  # ids remembered per stream / per polled URL to publish each item once
RETRY_AFTER_S = 30.0  # a 429 without a usable Retry-After
MAX_PAGES = 10  # Reddit listing pages (100 items each) read back per URL and poll before a gap is declared


async def _retry(run: SourceRun, exc: BaseException | None) -> None:
    if run.stop.is_set():
        return
    run.metrics.reconnects.labels(run.name).inc()
    delay = run.backoff.next()
    log.warning("%s: %s; retrying in %.1f s", run.name, f"{type(exc).__name__}: {exc}" if exc else "closed", delay)
    await run.pause(delay)


async def _final_save(run: SourceRun, state: dict[str, Any], err: BaseException | None) -> None:
    """Checkpoint at the end of a connection, unless a delivery failed (then the next connection rewinds)."""
    if isinstance(err, DeliveryFailed):
        return
    try:
        await run.save(state, force=True)
    except DeliveryFailed as exc:
        log.warning("%s: %s; resuming from the last checkpoint", run.name, exc)


# ---- Bluesky Jetstream -------------------------------------------------------------------------------------------
async def run_bluesky(run: SourceRun, url: str) -> None:
    """Reconnects from the checkpointed cursor minus a few seconds (Jetstream's advice for a gapless resume) and
    skips the posts of that overlap it already published (ids kept in the checkpoint): no gap, no repeat."""
    async with aiohttp.ClientSession() as http:
        while not run.stop.is_set():
            state = run.checkpoint.load()  # (re)connect from the last durable point
            cursor = state.get("cursor")
            seen = deque(state.get("seen", []), maxlen=SEEN)
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
            except RETRY_ERRORS as exc:
                err = exc
            await _final_save(run, {"cursor": cursor, "seen": list(seen)}, err)
            await _retry(run, err)


def _bluesky_frame(run: SourceRun, data: str, cursor: int | None, seen: deque[str]) -> int | None:
    try:
        event = json.loads(data)
        time_us = int(event["time_us"])
        post = bluesky.map_jetstream(event, run.policy)
    except bluesky.NotAPost:
        run.ignored()
        return time_us
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", data.encode())
        return cursor
    if post["id"] not in seen:
        run.emit(post)
        seen.append(post["id"])
    return time_us


# ---- Mastodon ----------------------------------------------------------------------------------------------------
async def run_mastodon(run: SourceRun, base: str, hashtag: str | None = None, token: str | None = None,
                       local: bool = False) -> None:
    """Stream; after every (re)connection first backfill from the REST timeline with min_id=<newest id seen>. Ids
    already published (bounded set, in the checkpoint) are skipped, so statuses that arrive out of id order
    (federation) are still published once."""
    host = urlparse(base).hostname or base  # ids of statuses without a uri carry the host name (no port)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    tag = quote(hashtag, safe="") if hashtag else None
    stream = f"{base}/api/v1/streaming/" + (f"hashtag?tag={tag}" if tag else "public" + ("/local" if local else ""))
    timeline = f"{base}/api/v1/timelines/" + (f"tag/{tag}" if tag else "public")
    params = {"local": "true"} if local and not tag else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        while not run.stop.is_set():
            state = run.checkpoint.load()
            last, seen = state.get("last_id"), deque(state.get("seen", []), maxlen=SEEN)
            err: BaseException | None = None
            try:
                if last:  # the stream has no cursor: catch up from the REST timeline first
                    last = await _mastodon_backfill(run, http, timeline, params, host, last, seen)
                async with http.get(stream, timeout=aiohttp.ClientTimeout(sock_read=90)) as resp:
                    if resp.status == 429:
                        run.metrics.rate_limited.labels(run.name).inc()
                        await run.save({"last_id": last, "seen": list(seen)}, force=True)  # keep the backfill
                        await run.pause(parse_retry_after(resp.headers.get("Retry-After"), RETRY_AFTER_S))
                        continue
                    resp.raise_for_status()
                    parser = mastodon.SSEParser()
                    async for raw in resp.content:
                        ev = parser.feed(raw.decode("utf-8", "replace"))
                        if ev and ev[0] == "update":
                            last = _newest(last, _mastodon_status(run, ev[1], host, seen))
                            run.backoff.reset()
                            await run.save({"last_id": last, "seen": list(seen)})
                        if run.stop.is_set():
                            break
            except RETRY_ERRORS as exc:
                err = exc
            await _final_save(run, {"last_id": last, "seen": list(seen)}, err)
            await _retry(run, err)


def _newest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return max(a, b, key=mastodon.id_key)


def _mastodon_status(run: SourceRun, data: str, host: str, seen: deque[str]) -> str | None:
    """Publish one status unless it was published already (by its canonical uri: the same status federated under
    another local id is not published twice); returns its server-local id, the timeline cursor (None when
    malformed)."""
    try:
        status = json.loads(data)
        sid = str(status["id"])
        post = mastodon.map_status(status, host, run.policy)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", data.encode())
        return None
    if post["id"] not in seen:
        run.emit(post)
        seen.append(post["id"])
    return sid


async def _mastodon_backfill(run: SourceRun, http: aiohttp.ClientSession, url: str, params: dict[str, str],
                             host: str, last: str, seen: deque[str]) -> str:
    while not run.stop.is_set():
        async with http.get(url, params={**params, "min_id": last, "limit": "40"}) as resp:
            if resp.status == 429:
                run.metrics.rate_limited.labels(run.name).inc()
                await run.pause(parse_retry_after(resp.headers.get("Retry-After"), RETRY_AFTER_S))
                continue
            resp.raise_for_status()
            page = await resp.json(content_type=None)
        if not isinstance(page, list):
            raise ValueError(f"timeline page is {type(page).__name__}, not a list")
        items = [s for s in page if isinstance(s, dict) and "id" in s]
        if not items:
            return last
        items.sort(key=lambda s: mastodon.id_key(str(s["id"])))
        for s in items:
            _mastodon_status(run, json.dumps(s), host, seen)
        last = _newest(last, str(items[-1]["id"])) or last  # pages forward even past malformed statuses
    return last


# ---- polled sources: Reddit listings, RSS / Atom feeds -----------------------------------------------------------
async def _poll(run: SourceRun, http: aiohttp.ClientSession, url: str, state: dict[str, Any] | None
                ) -> tuple[bytes | None, float]:
    """GET with If-None-Match / If-Modified-Since from `state` (None: unconditional, nothing recorded). (body or None
    when unchanged or refused, seconds to wait)."""
    h = {}
    if state is not None and state.get("etag"):
        h["If-None-Match"] = state["etag"]
    if state is not None and state.get("modified"):
        h["If-Modified-Since"] = state["modified"]
    async with http.get(url, headers=h) as resp:
        lower = {k.lower(): v for k, v in resp.headers.items()}
        if resp.status == 429:
            run.metrics.rate_limited.labels(run.name).inc()
            return None, reddit.rate_limit_wait(lower, 429)
        wait = reddit.rate_limit_wait(lower, resp.status)
        if resp.status == 304:
            return None, wait
        resp.raise_for_status()
        body = await resp.read()
        if state is not None:
            state["etag"] = resp.headers.get("ETag") or state.get("etag")
            state["modified"] = resp.headers.get("Last-Modified") or state.get("modified")
        if wait:
            run.metrics.rate_limited.labels(run.name).inc()
        return body, wait


async def run_polled(run: SourceRun, urls: list[str], interval_s: float, kind: str,
                     user_agent: str = "sentiment-monitor/0.1 (+https://github.com/)", max_pages: int = MAX_PAGES
                     ) -> None:
    """reddit (listing JSON) or rss (feeds): poll every `interval_s`, publish unseen items oldest first. Each URL
    keeps its own ETag, body digest and bounded set of published ids in the checkpoint. A Reddit listing is paged
    back until it reaches a post already published (at most `max_pages` pages a poll, else a counted gap)."""
    async with aiohttp.ClientSession(headers={"User-Agent": user_agent}) as http:
        while not run.stop.is_set():
            per_url: dict[str, dict[str, Any]] = run.checkpoint.load().get("urls", {})
            wait, err = 0.0, None
            try:
                for url in urls:
                    st = per_url.setdefault(url, {})
                    body, w = await _poll(run, http, url, st)
                    wait = max(wait, w)
                    digest = hashlib.sha1(body).hexdigest() if body is not None else None  # noqa: S324 - a tag
                    if body is not None and digest != st.get("sha1"):  # unchanged body: servers without ETags
                        seen = deque(st.get("seen", []), maxlen=SEEN)
                        if kind == "reddit":
                            wait = max(wait, await _reddit_items(run, http, url, body, seen, max_pages, w))
                        else:
                            await _rss_items(run, url, body, seen)
                        st["sha1"], st["seen"] = digest, list(seen)
                    await run.save({"urls": per_url}, force=True)
                    run.backoff.reset()
                    if run.stop.is_set():
                        break
            except RETRY_ERRORS as exc:
                err = exc
            if err is not None:
                await _retry(run, err)
            else:
                await run.pause(max(interval_s, wait))


def _listing(run: SourceRun, body: bytes) -> tuple[list[dict[str, Any]], str | None] | None:
    """(children, after cursor) of a listing page; None (dead-lettered) when it is not a listing."""
    try:
        listing = json.loads(body)
        return reddit.children(listing), reddit.next_after(listing)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", body[:100_000])
        return None


async def _reddit_items(run: SourceRun, http: aiohttp.ClientSession, url: str, body: bytes, seen: deque[str],
                        max_pages: int, wait: float = 0.0) -> float:
    """Publish the new items of a listing whose first page is `body`: older pages (`after=`) are read until one
    holds a post already published, at most `max_pages` pages in all; stopping short of it (the cap, a rate limit,
    a bad page) is a gap, counted and logged. Nothing published yet (first poll): the first page only.
    `wait`: what the first page's response asked for (an exhausted quota stops the paging). Returns the seconds
    the server asked to wait."""
    first = _listing(run, body)
    if first is None:
        return 0.0
    items, after = first
    known = set(seen)
    pages = 1
    while known and after and not reddit.reached(items, known) and pages < max_pages and not wait \
            and not run.stop.is_set():
        page_body, wait = await _poll(run, http, reddit.page_url(url, after), None)
        if page_body is None:
            break
        page = _listing(run, page_body)
        if page is None:
            break
        items += page[0]
        after = page[1]
        pages += 1
    if known and after and not reddit.reached(items, known):
        run.metrics.gaps.labels(run.name).inc()
        log.warning("%s: gap in %s: %d page(s) read (cap %d%s) without reaching the last post published; older "
                    "new posts were skipped", run.name, url, pages, max_pages, f", asked to wait {wait:.0f} s"
                    if wait else "")
    items.sort(key=lambda t: _float((t.get("data") or {}).get("created_utc") if isinstance(t, dict) else 0))
    for t in items:
        try:
            post = reddit.map_thing(t, run.policy)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            run.malformed("source_malformed", f"{type(exc).__name__}: {exc}", json.dumps(t).encode())
            continue
        if post["id"] not in known:
            run.emit(post)
            known.add(post["id"])
            seen.append(post["id"])
    return wait


async def _rss_items(run: SourceRun, url: str, body: bytes, seen: deque[str]) -> None:
    import feedparser

    feed = await asyncio.to_thread(feedparser.parse, body)  # pure Python, slow on big feeds: off the event loop
    if feed.get("bozo") and not isinstance(feed.get("bozo_exception"), feedparser.CharacterEncodingOverride):
        # a broken feed is reported once per distinct body; the entries that still parse are published
        run.malformed("source_malformed", f"feed {url}: {feed.get('bozo_exception')}", body[:100_000])
    known = set(seen)
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
            known.add(post["id"])
            seen.append(post["id"])


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
