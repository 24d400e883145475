"""`monitor ingest SOURCE` against local servers speaking each source's wire format, publishing to the real broker:
restart-resume without gaps or repeats, disconnects, malformed frames (dead-lettered), rate limits, HTTP ingest."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from monitor.broker import free_port
from monitor.kafka_io import produce_raw, read_all
from monitor.verify import account

from .conftest import wait_until
from .fake_sources import FakeSources

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fake():
    return FakeSources()


def ingest(s, cp, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "MONITOR_TOPIC_RAW": s.topic_raw, "MONITOR_TOPIC_DLQ": s.topic_dlq}
    cmd = [sys.executable, "-m", "monitor.cli", "ingest", *args, "--bootstrap-servers", s.bootstrap_servers,
           "--checkpoint", str(cp)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def raw_ids(s) -> list[str]:
    return [r["value"]["id"] for r in read_all(s.bootstrap_servers, s.topic_raw)]


def source_dlq(s, source: str) -> list[dict]:
    return [r["value"] for r in read_all(s.bootstrap_servers, s.topic_dlq)
            if r["value"]["source_topic"] == f"source:{source}"]


def test_bluesky_disconnect_malformed_and_restart_resume(stream_settings, workers, fake, tmp_path):
    s = stream_settings
    w = workers(s)
    cp = tmp_path / "bsky.json"
    url = f"ws://127.0.0.1:{fake.port}/subscribe"
    ingest(s, cp, "bluesky", "--url", url, "--max-posts", "3")  # the server drops the first connection mid-stream
    first = raw_ids(s)
    assert len(first) == 3 and json.loads(cp.read_text())["cursor"] > 0
    ingest(s, cp, "bluesky", "--url", url, "--max-posts", "10")  # restart: resumes from the checkpoint
    ids = raw_ids(s)
    posts = [e for e in fake.events if e["kind"] == "commit" and e["commit"]["operation"] == "create"
             and e["commit"]["collection"] == "app.bsky.feed.post"]
    assert len(ids) == len(set(ids)) == len(posts) == 13  # no gap, no repeat
    assert fake.ws_cursors[0] is None and all(c for c in fake.ws_cursors[1:])  # reconnects resumed by cursor
    dlq = source_dlq(s, "bluesky")
    assert len(dlq) == 1 and dlq[0]["reason"] == "source_malformed" and "JSONDecodeError" in dlq[0]["detail"]
    # the worker accounts for every post the connector published
    late = {"id": "closer-sources", "created_at": "2026-11-29T12:00:00Z", "text": "x", "topics": ["zz-closer"]}
    produce_raw(s.bootstrap_servers, s.topic_raw, [("closer-sources", json.dumps(late).encode())])
    want = set(ids)

    def done():
        sc = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_scored)]
        return sc if want <= {v["id"] for v in sc} else None

    scored = wait_until(done, 90)
    assert scored, f"worker did not score the connector's posts (log: {w.log})"
    windows = wait_until(lambda: [r["value"] for r in read_all(s.bootstrap_servers, s.topic_windows)
                                  if r["value"]["topic"] == "ACME"], 60)
    acc = account(want, [v for v in scored if v["id"] in want], [], windows)
    assert acc["lost"] == 0 and acc["duplicate_deliveries"] == 0 and acc["double_counted"] == 0, acc


def test_mastodon_stream_backfill_after_restart(stream_settings, fake, tmp_path):
    s = stream_settings
    cp = tmp_path / "masto.json"
    ingest(s, cp, "mastodon", "--base", fake.base, "--max-posts", "3")
    assert json.loads(cp.read_text())["last_id"] == fake.statuses[2]["id"]
    t0 = time.monotonic()
    ingest(s, cp, "mastodon", "--base", fake.base, "--max-posts", "9")  # backfill from the timeline, then stream
    assert time.monotonic() - t0 >= 1.0 and fake.timeline_calls >= 2  # the backfill's 429 + Retry-After honoured
    ids = raw_ids(s)
    assert len(ids) == len(set(ids)) == 12
    assert set(ids) == {f"mastodon:{x['uri']}" for x in fake.statuses}
    dlq = source_dlq(s, "mastodon")
    assert len(dlq) == 1 and dlq[0]["reason"] == "source_malformed"


def test_reddit_rate_limit_etag_and_restart(stream_settings, fake, tmp_path):
    s = stream_settings
    cp = tmp_path / "reddit.json"
    t0 = time.monotonic()
    ingest(s, cp, "reddit", "--base", fake.base, "--subreddits", "stocks", "--interval", "0.2", "--max-posts", "2")
    assert time.monotonic() - t0 >= 1.0  # the first answer was 429 with Retry-After: 1, and it was honoured
    assert sorted(raw_ids(s)) == ["reddit:t3_b1", "reddit:t3_b2"]
    fake.add_reddit("t3_b3", "AMD earnings call was a mess", 1764410500.0)
    ingest(s, cp, "reddit", "--base", fake.base, "--subreddits", "stocks", "--interval", "0.2", "--max-posts", "1")
    ids = raw_ids(s)
    assert sorted(ids) == ["reddit:t3_b1", "reddit:t3_b2", "reddit:t3_b3"]  # only the new one after the restart
    assert fake.requests[-1][1].get("If-None-Match") == '"v2"'  # conditional request from the checkpointed ETag
    assert all("sentiment-monitor" in h.get("User-Agent", "") for k, h in fake.requests if k == "reddit")
    ingest(s, tmp_path / "bad.json", "reddit", "--base", fake.base, "--subreddits", "bad", "--interval", "0.3",
           "--duration", "1.5")
    dlq = source_dlq(s, "reddit")
    assert dlq and dlq[0]["reason"] == "source_malformed" and "Listing" in dlq[0]["detail"]
    assert len(raw_ids(s)) == 3


def test_rss_conditional_polls_and_malformed_feed(stream_settings, fake, tmp_path):
    s = stream_settings
    cp = tmp_path / "rss.json"
    feed = f"{fake.base}/feed.xml"
    ingest(s, cp, "rss", "--feed", feed, "--interval", "0.3", "--max-posts", "2")
    assert len(set(raw_ids(s))) == 2
    n_before = len([1 for k, _ in fake.requests if k == "rss"])
    ingest(s, cp, "rss", "--feed", feed, "--feed", f"{fake.base}/bad.xml", "--interval", "0.3", "--duration", "2")
    assert len(raw_ids(s)) == 2  # nothing new, nothing repeated
    rss_headers = [h for k, h in fake.requests if k == "rss"][n_before:]
    assert rss_headers and all(h.get("If-None-Match") for h in rss_headers)
    dlq = source_dlq(s, "rss")
    assert dlq and all(d["reason"] == "source_malformed" and "bad.xml" in d["detail"] for d in dlq)
    t0 = time.monotonic()  # a feed answering 429 first: the connector waits Retry-After, then publishes
    ingest(s, tmp_path / "rss2.json", "rss", "--feed", f"{fake.base}/feed2.xml", "--interval", "0.2", "--max-posts",
           "2")
    assert time.monotonic() - t0 >= 1.0 and fake.feed2_calls == 2 and len(set(raw_ids(s))) == 4


def _post(url: str, body: bytes, ctype: str, token: str | None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype,
                                 **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_http_ingest_endpoint(stream_settings, tmp_path):
    s = stream_settings
    port = free_port()
    env = {**os.environ, "MONITOR_TOPIC_RAW": s.topic_raw, "MONITOR_TOPIC_DLQ": s.topic_dlq}
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "ingest", "http", "--port", str(port), "--token",
                             "t0k", "--bootstrap-servers", s.bootstrap_servers, "--checkpoint",
                             str(tmp_path / "http.json")], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/ingest"

        def up():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200  # noqa: S310
            except OSError:
                return False

        assert wait_until(up, 30), proc.stderr.read1(3000) if proc.poll() is not None else "not up"
        good = {"id": "h1", "created_at": 1764410400000, "text": "$ACME recall is bad"}
        assert _post(url, json.dumps(good).encode(), "application/json", None)[0] == 401
        assert _post(url, json.dumps(good).encode(), "application/json", "wrong")[0] == 401
        assert _post(url, b"id=1", "application/x-www-form-urlencoded", "t0k")[0] == 415
        code, body = _post(url, b"{not json", "application/json", "t0k")
        assert code == 400 and body["error"] == "invalid_json"
        code, body = _post(url, b"x" * (8 * 2**20 + 10), "application/json", "t0k")
        assert code == 413
        code, body = _post(url, json.dumps([good, {"id": "h2", "created_at": 0}]).encode(), "application/json", "t0k")
        assert code == 202 and body["accepted"] == ["h1"]
        assert body["rejected"] == [{"index": 1, "reason": "no_content", "detail": "post has neither text nor media"}]
        lines = b"\n".join(json.dumps({"id": f"l{i}", "created_at": 0, "text": "ok"}).encode() for i in range(3))
        code, body = _post(url, lines, "application/x-ndjson", "t0k")
        assert code == 202 and body["accepted"] == ["l0", "l1", "l2"]
        assert sorted(raw_ids(s)) == ["h1", "l0", "l1", "l2"]  # acknowledged by the broker before the 202
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0


def test_http_ingest_refuses_a_public_bind_without_token(stream_settings, tmp_path):
    s = stream_settings
    res = subprocess.run([sys.executable, "-m", "monitor.cli", "ingest", "http", "--host", "0.0.0.0", "--port",
                          str(free_port()), "--bootstrap-servers", s.bootstrap_servers, "--checkpoint",
                          str(tmp_path / "h.json")], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "needs --token" in res.stderr
