"""Issue #30 items 11 and 9 (connectors): Reddit paging with a gap metric, Mastodon ids by canonical URI, per-instance
default checkpoints, one full-jitter backoff, one Retry-After parser, no blocking feed parsing / fsync on the loop."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import Settings
from monitor.sources import adapters, mastodon
from monitor.sources.common import Backoff, Checkpoint
from monitor.sources.runtime import SourceRun

FIX = Path(__file__).resolve().parents[2] / "monitor" / "sources" / "fixtures"


class StubPublisher:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.dead: list[str] = []

    def send(self, key: str, value: bytes, track: bool = True) -> None:
        self.sent.append(key)

    def dead_letter(self, source: str, reason: str, detail: str, raw: bytes, post_id: str | None) -> None:
        self.dead.append(reason)

    def flush(self, timeout_s: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def make_run(tmp_path: Path, name: str = "t", **kw: Any) -> SourceRun:
    return SourceRun(name, Settings.load(None, env={}), Checkpoint(tmp_path / f"{name}.json"),
                     publisher=StubPublisher(), **kw)


# ---- Reddit paging ------------------------------------------------------------------------------------------------
def listing_app(names: list[str], calls: list[dict[str, str]]) -> web.Application:
    """A Reddit listing (newest first) paged by `after=<fullname>` and `limit`, like /r/<sub>/new.json."""
    async def new(request: web.Request) -> web.Response:
        calls.append(dict(request.query))
        after = request.query.get("after")
        start = names.index(after) + 1 if after else 0
        limit = int(request.query.get("limit", "25"))
        page = names[start:start + limit]
        more = start + limit < len(names)
        children = [{"kind": "t3", "data": {"name": n, "title": f"post {n}", "author": "a", "subreddit": "s",
                                            "created_utc": 1764410400 + len(names) - names.index(n),
                                            "permalink": f"/r/s/{n}"}} for n in page]
        return web.json_response({"kind": "Listing", "data": {"after": page[-1] if more and page else None,
                                                              "before": None, "children": children}})

    app = web.Application()
    app.router.add_get("/r/s/new.json", new)
    return app


async def _poll_reddit(tmp_path: Path, n_new: int, expect: int, **kw: Any) -> tuple[SourceRun, list[dict[str, str]]]:
    names = [f"t3_n{i}" for i in range(n_new)] + ["t3_old", "t3_older"]
    calls: list[dict[str, str]] = []
    server = TestServer(listing_app(names, calls))
    await server.start_server()
    try:
        url = str(server.make_url("/r/s/new.json")) + "?limit=100&raw_json=1"
        run = make_run(tmp_path, "reddit")
        run.checkpoint.save({"urls": {url: {"seen": ["reddit:t3_older", "reddit:t3_old"]}}})
        task = asyncio.create_task(adapters.run_polled(run, [url], 0.05, "reddit", **kw))
        deadline = time.monotonic() + 5
        while len(run.publisher.sent) < expect and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a few more polls: nothing new, nothing repeated
        run.stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        await server.close()
    return run, calls


def test_reddit_pages_back_to_the_last_seen_post(tmp_path):
    """A busy listing: 250 posts since the last poll. One page of 100 dropped 150 of them silently."""
    run, calls = asyncio.run(_poll_reddit(tmp_path, 250, 250))
    sent = run.publisher.sent
    assert len(sent) == len(set(sent)) == 250
    assert sent[0] == "reddit:t3_n249" and sent[-1] == "reddit:t3_n0"  # oldest first
    assert [c.get("after") for c in calls[:3]] == [None, "t3_n99", "t3_n199"]
    assert run.metrics.gaps.labels("reddit")._value.get() == 0


def test_reddit_page_cap_counts_and_logs_the_gap(tmp_path, caplog):
    caplog.set_level("WARNING", "monitor.sources")
    run, calls = asyncio.run(_poll_reddit(tmp_path, 450, 200, max_pages=2))
    assert len(run.publisher.sent) == 200 and sum(1 for c in calls if c.get("after")) == 1
    assert run.metrics.gaps.labels("reddit")._value.get() == 1
    assert any("gap" in r.getMessage() for r in caplog.records)


def test_reddit_first_poll_reads_one_page_and_counts_no_gap(tmp_path):
    from monitor.sources import reddit

    listing = {"kind": "Listing", "data": {"after": "t3_b", "children": [{"kind": "t3", "data": {"name": "t3_a"}}]}}
    assert reddit.next_after(listing) == "t3_b"
    assert reddit.page_url("https://r/x/new.json?limit=100&raw_json=1", "t3_b") == \
        "https://r/x/new.json?limit=100&raw_json=1&after=t3_b"
    assert reddit.page_url("https://r/x/new.json?after=t3_a&limit=100", "t3_b") == \
        "https://r/x/new.json?after=t3_b&limit=100"
    assert reddit.reached(reddit.children(listing), {"reddit:t3_a"})
    assert not reddit.reached(reddit.children(listing), {"reddit:t3_z"})


# ---- Mastodon: one id per status across servers -------------------------------------------------------------------
def test_mastodon_federated_status_has_one_id_on_every_server(tmp_path):
    st = json.loads((FIX / "mastodon_status.json").read_text())
    on_b = {**st, "id": "777"}  # the same status seen through another server: its own local id
    a, b = mastodon.map_status(st, "example.social"), mastodon.map_status(on_b, "other.example")
    assert a["id"] == b["id"] == f"mastodon:{st['uri']}"
    from collections import deque

    run = make_run(tmp_path)
    seen: deque[str] = deque(maxlen=10)
    assert adapters._mastodon_status(run, json.dumps(st), "example.social", seen) == st["id"]  # last_id: local id
    assert adapters._mastodon_status(run, json.dumps(on_b), "example.social", seen) == "777"
    assert run.publisher.sent == [f"mastodon:{st['uri']}"]  # published once
    no_uri = {k: v for k, v in st.items() if k != "uri"}
    assert mastodon.map_status(no_uri, "example.social")["id"] == f"mastodon:example.social:{st['id']}"


# ---- default checkpoint per instance ------------------------------------------------------------------------------
def test_default_checkpoint_differs_per_instance_and_is_stable():
    from monitor.cli import build_parser
    from monitor.cli.sources import default_checkpoint

    p = build_parser()

    def cp(*argv: str) -> Path:
        return default_checkpoint(p.parse_args(["ingest", *argv]))

    a = cp("mastodon", "--base", "https://a.social")
    assert a == cp("mastodon", "--base", "https://a.social") and a.parent == Path(".state")
    assert a.name.startswith("mastodon-") and a.suffix == ".json"
    assert a != cp("mastodon", "--base", "https://b.social")
    assert cp("reddit", "--subreddits", "stocks") != cp("reddit", "--subreddits", "wallstreetbets")
    assert cp("rss", "--feed", "https://x/1") != cp("rss", "--feed", "https://x/2")
    assert cp("bluesky", "--keywords", "a") != cp("bluesky", "--keywords", "b")
    assert cp("mastodon", "--base", "https://a.social", "--token", "t1") == a  # secrets are not parameters
    explicit = p.parse_args(["ingest", "rss", "--feed", "u", "--checkpoint", "/tmp/x.json"])
    assert default_checkpoint(explicit) == Path("/tmp/x.json")


# ---- one backoff: true full jitter ---------------------------------------------------------------------------------
class RecordingRng(random.Random):
    def __init__(self) -> None:
        super().__init__(0)
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return a


def test_backoff_is_full_jitter_and_shared_with_webhooks():
    from monitor.alert.delivery import RetryPolicy
    from monitor.retry import full_jitter

    rng = RecordingRng()
    b = Backoff(1.0, 8.0, rng)
    assert [b.next() for _ in range(5)] == [0.0] * 5  # uniform(0, cap): the lower bound is 0, not cap / 2
    assert rng.calls == [(0, 1.0), (0, 2.0), (0, 4.0), (0, 8.0), (0, 8.0)]
    rng2 = RecordingRng()
    assert RetryPolicy(base_s=0.5, cap_s=3.0).backoff(3, rng2) == 0.0 and rng2.calls == [(0, 3.0)]
    r1, r2 = random.Random(5), random.Random(5)
    assert RetryPolicy(base_s=0.5, cap_s=60).backoff(2, r1) == full_jitter(2, 0.5, 60, r2)
    draws = [Backoff(1.0, 8.0, random.Random(i), attempt=3).next() for i in range(200)]
    assert min(draws) < 1.0 and max(draws) <= 8.0


# ---- one Retry-After parser -----------------------------------------------------------------------------------------
def test_one_retry_after_parser():
    from monitor import retry
    from monitor.alert import delivery
    from monitor.sources import reddit

    p = retry.parse_retry_after
    assert p("7") == 7.0 and p(" 120 ") == 120.0 and p("0") == 0.0
    assert p("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 27 <= p(soon) <= 31
    for junk in (None, "", "soon", "-5", "nan", "inf", "1e400", "Wed, 99 Foo 2015"):
        assert p(junk) is None, junk
    assert p("soon", default=30.0) == 30.0 and p(None, default=5.0) == 5.0
    assert reddit.rate_limit_wait({"retry-after": soon}, 429) >= 27  # reddit's 429: the same parser
    assert getattr(delivery, "parse_retry_after", p) is p and not hasattr(adapters, "retry_after")  # no other copy


def test_webhook_honours_an_http_date_retry_after(monkeypatch):
    from monitor.alert import delivery

    from .test_alert_delivery import RECORD, Receiver

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    r = Receiver(fail_first=1, fail_status=429, retry_after=soon)
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float, *a: Any, **k: Any) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(delivery.asyncio, "sleep", fake_sleep)

    async def go() -> str:
        import aiohttp

        async with aiohttp.ClientSession() as s:
            return await delivery.deliver(s, delivery.Target(url=r.url), RECORD,
                                          delivery.RetryPolicy(base_s=0.001, cap_s=3600), rng=random.Random(0))

    try:
        assert asyncio.run(go()) == "ok"
    finally:
        r.close()
    assert [p for p in pauses if p > 0] and 25 <= max(pauses) <= 31


# ---- no blocking work on the event loop ---------------------------------------------------------------------------
def test_feed_parsing_runs_off_the_event_loop(tmp_path, monkeypatch):
    import feedparser

    threads: list[bool] = []
    real_parse = feedparser.parse

    def spy(*a: Any, **k: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return real_parse(*a, **k)

    monkeypatch.setattr(feedparser, "parse", spy)
    body = (FIX / "feed.xml").read_bytes()

    async def feed(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/rss+xml")

    async def go() -> SourceRun:
        app = web.Application()
        app.router.add_get("/feed.xml", feed)
        server = TestServer(app)
        await server.start_server()
        run = make_run(tmp_path, "rss", max_posts=2)
        try:
            await asyncio.wait_for(adapters.run_polled(run, [str(server.make_url("/feed.xml"))], 0.05, "rss"), 5)
        finally:
            await server.close()
        return run

    run = asyncio.run(go())
    assert len(run.publisher.sent) == 2 and threads and not any(threads)  # parsed in a worker thread


def test_checkpoint_save_async_fsyncs_off_the_loop(tmp_path, monkeypatch):
    import os

    threads: list[bool] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    cp = Checkpoint(tmp_path / "s" / "c.json")
    asyncio.run(cp.save_async({"cursor": 9}))
    assert cp.load() == {"cursor": 9} and threads == [False]


@pytest.mark.parametrize("value", ["7", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_reddit_429_waits_for_retry_after(value):
    from monitor.sources import reddit

    assert reddit.rate_limit_wait({"retry-after": value}, 429) == (7.0 if value == "7" else 0.0)
    assert reddit.rate_limit_wait({"retry-after": "junk", "x-ratelimit-reset": "12"}, 429) == 12.0
