"""Pure parts of the source connectors: mappers from each source's documented wire format to posts.raw."""

import json
import random
from pathlib import Path

import pytest

from monitor.sources import bluesky, mastodon, reddit, rss
from monitor.sources.common import Backoff, Checkpoint, Filter, MediaPolicy, html_to_text, make_post
from monitor.types import Post

FIX = Path(__file__).resolve().parents[2] / "monitor" / "sources" / "fixtures"
OPEN = MediaPolicy(True, ("cdn.bsky.app", "files.example.social", "i.redd.it", "img.example.com"))


def valid(post: dict) -> Post:
    return Post.model_validate(json.loads(json.dumps(post)))


def test_jetstream_events_map_to_posts_and_others_are_not_posts():
    events = [json.loads(line) for line in (FIX / "jetstream.jsonl").read_text().splitlines()]
    a = bluesky.map_jetstream(events[0])
    assert a["id"] == "bsky:at://did:plc:aaa/app.bsky.feed.post/3k1" and a["lang"] == "en"
    assert a["meta"]["tags"] == ["cars"] and valid(a).event_ms == 1795946400000
    b = bluesky.map_jetstream(events[1], OPEN)
    assert b["media"] == [{"kind": "image", "uri": "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:bbb/bafkreiimg@jpeg",
                           "mime": "image/jpeg"}]
    assert "[image: TSLA stock chart falling 20%]" in b["text"]
    closed = bluesky.map_jetstream(events[1])  # the worker may not fetch: the uri stays in meta, no media
    assert "media" not in closed and closed["meta"]["media_uris"] and valid(closed)
    for ev in events[2:5]:
        with pytest.raises(bluesky.NotAPost):
            bluesky.map_jetstream(ev)
    assert bluesky.map_jetstream(events[5], OPEN)["media"][0]["uri"].endswith("/bafkreiq@jpeg")
    with pytest.raises((KeyError, TypeError, ValueError)):
        bluesky.map_jetstream({"kind": "commit", "commit": {"collection": bluesky.COLLECTION, "operation": "create"}})
    assert "cursor" not in bluesky.subscribe_url("ws://h/subscribe", None)
    assert bluesky.subscribe_url("ws://h/subscribe", 1732000005000000).endswith(
        "wantedCollections=app.bsky.feed.post&cursor=1732000000000000")  # resumes 5 s before the checkpoint


def test_mastodon_status_and_sse():
    st = json.loads((FIX / "mastodon_status.json").read_text())
    p = mastodon.map_status(st, "example.social", OPEN)
    assert p["id"] == "mastodon:https://example.social/users/ann/statuses/109000000000000101" and p["author"] == "ann"
    assert p["text"].startswith("Terrible earnings from #acme & a recall\nsecond para")
    assert p["media"] == [{"kind": "image", "uri": "https://files.example.social/media/1.png"}]  # video dropped
    assert "[image: a red chart]" in p["text"] and valid(p)
    boost = {"id": "2", "created_at": st["created_at"], "account": {"acct": "bob"}, "reblog": st, "content": ""}
    b = mastodon.map_status(boost, "example.social")
    assert b["id"] == "mastodon:example.social:2" and b["meta"]["boost_of"]  # no uri: host + local id == st["id"] and "Terrible" in b["text"]
    lines = [":thump", "event: update", "data: {\"a\":", "data: 1}", "", "event: delete", "data: 5", "", ":thump", ""]
    assert list(mastodon.parse_sse(lines)) == [("update", "{\"a\":\n1}"), ("delete", "5")]
    assert mastodon.id_key("99") < mastodon.id_key("100")


def test_reddit_listing_and_rate_limits():
    things = reddit.children(json.loads((FIX / "reddit_new.json").read_text()))
    img, text = (reddit.map_thing(t, OPEN) for t in things)
    assert img["id"] == "reddit:t3_b2" and img["media"] == [{"kind": "image", "uri": "https://i.redd.it/abc.png"}]
    assert text["text"] == "Is $TSLA done?\nRecall news is awful." and valid(text).event_ms == 1764410400000
    comment = reddit.map_thing({"kind": "t1", "data": {"name": "t1_c", "body": "bad", "created_utc": 1, "author": "x"}})
    assert comment["id"] == "reddit:t1_c"
    with pytest.raises(ValueError):
        reddit.children({"kind": "t3"})
    assert reddit.rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "42"}, 200) == 42
    assert reddit.rate_limit_wait({"x-ratelimit-remaining": "57"}, 200) == 0
    assert reddit.rate_limit_wait({"retry-after": "3"}, 429) == 3


def test_rss_entries():
    import feedparser

    feed = feedparser.parse((FIX / "feed.xml").read_bytes())
    posts = [rss.map_entry(e, "https://news.example.com/feed.xml", 0, OPEN) for e in feed.entries]
    assert posts[0]["text"] == "Acme shares plunge after recall\nShares of Acme fell 20%."
    assert posts[0]["media"] == [{"kind": "image", "uri": "https://img.example.com/a2.jpg", "mime": "image/jpeg"}]
    assert posts[0]["id"].startswith("rss:news.example.com:") and posts[0]["id"] != posts[1]["id"]
    assert valid(posts[1]).event_ms == 1795942800000
    with pytest.raises(ValueError):
        rss.map_entry({"title": "", "summary": ""}, "https://x/feed", 0)


def test_filter_policy_backoff_checkpoint(tmp_path):
    f = Filter(keywords=("recall",), cashtags=("$TSLA",), accounts=("@ann",))
    assert f.keep("the RECALL is bad", None) and f.keep("$tsla up", None) and f.keep("hi", "ann")
    assert not f.keep("recalled nothing", "bob") and not f.keep("$TSLAX", None)
    assert Filter().keep("anything", None)
    assert html_to_text("<p>a &amp; b</p><p>c</p>") == "a & b\nc"
    p = make_post("x", 0, "t", "hello", media=[{"kind": "image", "uri": "http://evil.example/x.png"}], policy=OPEN)
    assert "media" not in p and p["meta"]["media_uris"] == ["http://evil.example/x.png"]  # http, not allowlisted
    b = Backoff(1.0, 8.0, random.Random(1))
    delays = [b.next() for _ in range(6)]
    assert all(0.0 <= d <= 8.0 for d in delays) and b.attempt == 6  # full jitter: uniform(0, cap)
    b.reset()
    assert b.attempt == 0 and b.next() <= 1.0
    cp = Checkpoint(tmp_path / "s" / "c.json")
    assert cp.load() == {}
    cp.save({"cursor": 5})
    assert cp.load() == {"cursor": 5} and [p.name for p in (tmp_path / "s").iterdir()] == ["c.json"]


class StubPublisher:
    def __init__(self):
        self.sent, self.dead = [], []

    def send(self, key, value):
        self.sent.append(key)

    def dead_letter(self, source, reason, detail, raw, post_id):
        self.dead.append(reason)

    def flush(self):
        pass


def test_adapter_frames_never_crash_and_dedupe_by_id(tmp_path):
    from collections import deque

    from monitor.config import Settings
    from monitor.retry import parse_retry_after
    from monitor.sources.adapters import _bluesky_frame, _mastodon_status
    from monitor.sources.runtime import SourceRun

    run = SourceRun("t", Settings.load(None, env={}), Checkpoint(tmp_path / "c.json"), publisher=StubPublisher())
    seen: deque[str] = deque(maxlen=10)
    good = (FIX / "jetstream.jsonl").read_text().splitlines()[0]
    assert _bluesky_frame(run, good, None, seen) == 1732000000000001
    assert _bluesky_frame(run, good, 5, seen) == 1732000000000001 and len(run.publisher.sent) == 1  # replayed: skipped
    bad = json.dumps({**json.loads(good), "time_us": "soon"})
    assert _bluesky_frame(run, bad, 7, seen) == 7 and run.publisher.dead == ["source_malformed"]  # no crash
    st = json.loads((FIX / "mastodon_status.json").read_text())
    ids = deque(maxlen=10)
    newer, older = ({**st, "id": i, "uri": f"https://h/users/ann/statuses/{i}"} for i in ("200", "199"))
    # federation: the older id arrives second
    assert _mastodon_status(run, json.dumps(newer), "h", ids) == "200"
    assert _mastodon_status(run, json.dumps(older), "h", ids) == "199"
    assert _mastodon_status(run, json.dumps(older), "h", ids) == "199"
    assert run.publisher.sent[-2:] == ["mastodon:https://h/users/ann/statuses/200",
                                       "mastodon:https://h/users/ann/statuses/199"] and len(run.publisher.sent) == 3
    assert parse_retry_after("7") == 7 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after(None, 30.0) == 30


def test_deeply_nested_json_is_a_bad_request_not_a_crash():
    """Hot path v3 #10: `parse_body` raised RecursionError (a 500) on deeply nested JSON."""
    from monitor.sources.http_ingest import parse_body

    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_body(deep, "application/json")
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_body(deep + b"\n", "application/x-ndjson")
    assert parse_body(b'{"id": "1"}', "application/json") == [{"id": "1"}]


def test_connector_filter_and_routing_share_one_cashtag_rule():
    """Hot path v3 #11: the connectors' cashtag rule rejected $BRK.B while routing accepted it."""
    from monitor.ingest.route import Router

    f = Filter(cashtags=("BRK.B", "$RDS-B"))
    for text in ("$BRK.B is up", "selling $RDS-B today"):
        assert f.keep(text, "someone"), text
        assert set(Router().topics(text)) & {"BRK.B", "RDS-B"}
    assert not f.keep("$BRK is up", "someone")
