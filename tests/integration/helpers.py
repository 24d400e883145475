import json
import time

from monitor.aggregate.windows import ScoredEvent, reference_tumbling
from monitor.kafka_io import read_all

BASE_MS = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000  # an hour ago, minute-aligned


def make_posts(n: int, seed: int = 1, span_ms: int = 240_000, prefix: str = "p") -> list[tuple[str, bytes]]:
    import random

    rng = random.Random(seed)
    words = {"negative": "terrible awful crash, I hate this", "positive": "great wonderful gains, love it",
             "neutral": "the meeting is on Tuesday"}
    out = []
    times = sorted(BASE_MS + rng.randrange(span_ms) for _ in range(n))  # in event-time order, like a real feed
    for i in range(n):
        label = rng.choice(list(words))
        tag = rng.choice(["$AAPL", "$TSLA", "#acme", ""])
        post = {"id": f"{prefix}{i:05d}", "created_at": times[i], "source": "twitter",
                "text": f"{tag} {words[label]}".strip()}
        out.append((post["id"], json.dumps(post).encode()))
    return out


INVALID = [
    (b'{"id": "x1", "text": ', "invalid_json"),
    (json.dumps({"text": "no id"}).encode(), "schema"),
    (json.dumps({"id": "x3", "created_at": 0, "text": " "}).encode(), "no_content"),
    (json.dumps({"id": "x4", "created_at": 0, "media": [{"kind": "image", "data": "%%%"}]}).encode(), "bad_base64"),
    (b"x" * (9 * 1024 * 1024), "too_large"),
]


def closer(topic: str = "zz-closer") -> tuple[str, bytes]:
    """A post far ahead in event time (still in the past) that advances the watermark past every window."""
    post = {"id": f"closer-{topic}", "created_at": BASE_MS + 30 * 60_000, "text": "x", "topics": [topic]}
    return post["id"], json.dumps(post).encode()


def tumbling_windows(bootstrap: str, topic: str) -> list[dict]:
    return [r["value"] for r in read_all(bootstrap, topic) if r["value"]["kind"] == "tumbling"]


def check_windows_against_reference(scored: list[dict], windows: list[dict], size_ms: int = 60_000,
                                    skip_topic: str = "zz-closer") -> dict:
    """Window counts must equal a pure reference built from the scored records; no window emitted twice
    with different counts. Returns {'double_counted': int, 'missed': int, 'windows': int}."""
    events = [ScoredEvent(r["id"], t, r["event_ms"], r["label"], 0.0) for r in scored for t in r["topics"]
              if t != skip_topic]
    ref = reference_tumbling(events, size_ms)
    got: dict = {}
    for w in windows:
        if w["topic"] == skip_topic or (w["n"] == 0 and w["unscored"] == 0):
            continue
        k = (w["topic"], w["start_ms"])
        counts = (w["n"], w["negatives"], w["neutrals"], w["positives"])
        assert got.setdefault(k, counts) == counts, f"window {k} emitted with different counts"
    double = sum(max(0, got.get(k, (0,))[0] - c["n"]) for k, c in ref.items())
    missed = sum(max(0, c["n"] - got.get(k, (0,))[0]) for k, c in ref.items())
    extra = [k for k in got if k not in ref]
    mismatched = [k for k, c in ref.items() if got.get(k) != (c["n"], c["neg"], c["neu"], c["pos"])]
    return {"double_counted": double + len(extra), "missed": missed, "mismatched": mismatched,
            "windows": len(got)}


def diagnose_missed(bootstrap: str, bytopic: str, scored: list[dict], windows: list[dict], report: dict,
                    grace_ms: int, size_ms: int = 60_000, skip_topic: str = "zz-closer") -> dict:
    """For an assertion message when a window missed posts: per mismatched window, the missing post ids, the
    by-topic records (partition, offset, broker time) that carried them, the window record, and the ticks on that
    partition that reached the window's close before those records (a tick overtaking its events), so one failing
    run says where the posts went."""
    rows = read_all(bootstrap, bytopic)
    out: dict = {}
    for topic, start in report.get("mismatched", [])[:3]:
        ids = {r["id"] for r in scored if topic in r["topics"] and r["event_ms"] // size_ms * size_ms == start}
        win = [w for w in windows if w["topic"] == topic and w["start_ms"] == start and w.get("kind") == "tumbling"]
        carried = [(x["partition"], x["offset"], x["timestamp"], len(x["value"].get("events", [])))
                   for x in rows if x["key"] in (topic, topic.encode()) and "events" in x["value"]
                   and any(e["id"] in ids for e in x["value"]["events"])]
        close_at = start + size_ms + grace_ms
        part = carried[0][0] if carried else None
        ticks = [(x["offset"], x["timestamp"], x["value"].get("src"), x["value"].get("parts"))
                 for x in rows if x["partition"] == part and "tick" in x["value"]
                 and any(int(wm) >= close_at and not idle for wm, idle in x["value"].get("parts", {}).values())][:3]
        idle_ticks = [(x["offset"], x["timestamp"], x["value"].get("src"), x["value"].get("parts"))
                      for x in rows if x["partition"] == part and "tick" in x["value"]
                      and any(idle for _, idle in x["value"].get("parts", {}).values())][:3]
        out[f"{topic}@{start}"] = {"posts": len(ids), "window_n": [w["n"] for w in win], "carried_by": carried,
                                   "first_ticks_past_close": ticks, "first_idle_ticks": idle_ticks}
    return out
