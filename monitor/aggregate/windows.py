"""Tumbling buckets per topic with idempotent adds; hopping windows derived by summing closed buckets.

Pure functions over a JSON-able per-topic state (the Faust table stores it as is):
  {"next": start of the next bucket to close or None,
   "open": {"<start>": {"n","neg","neu","pos","uns","ssum","ids": {post id: 1}}},  # a dict: O(1) dedup
   "closed": {"<start>": {...counts...}},  # closed buckets kept for hop_size, to derive hopping windows
   "done": end of the last closed bucket (survives idleness: a redelivery after a restart stays late),
   "wm": the highest watermark this topic was closed at (persisted with the state)}
A bucket [s, s+size) closes when watermark >= s + size + grace. Events for a closed bucket are *late*
(reported, not counted). A post id already counted in its bucket is a *duplicate* (at-least-once redelivery).
Dedup state is bounded: ids live only while their bucket is open; an idle topic keeps only its "done" marker,
and is forgotten once the watermark is `retention_ms` past it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

COUNT_KEYS = ("n", "neg", "neu", "pos", "uns")
LABEL_KEY = {"negative": "neg", "neutral": "neu", "positive": "pos"}


@dataclass(frozen=True)
class WindowConfig:
    size_ms: int = 60_000
    hop_size_ms: int = 300_000
    hop_step_ms: int = 60_000
    grace_ms: int = 30_000

    def __post_init__(self) -> None:
        if self.hop_step_ms % self.size_ms or self.hop_size_ms % self.hop_step_ms:
            raise ValueError("hop step must be a multiple of the bucket size, hop size a multiple of the step")


@dataclass(frozen=True)
class ScoredEvent:
    post_id: str
    topic: str
    event_ms: int
    label: str  # negative | neutral | positive | unscored_modality
    score: float  # p(positive) - p(negative); 0 when unscored
    p_neg: float = 0.0
    source: str = ""
    text: str = ""
    modalities: tuple[str, ...] = ()


TOP_POSTS = 5
MAX_TERMS = 40
STOPWORDS = frozenset("""this that with from have just what your about they will would there their been were
when into more than then them just like only over also very after before could should which while where https
http today still being because""".split())
TERM_RE = re.compile(r"[a-z][a-z0-9']{3,}")


def terms_of(text: str, topic: str) -> set[str]:
    t = topic.lower()
    return {w for w in TERM_RE.findall(text.lower()) if w not in STOPWORDS and w != t}


def _explain(bucket: dict[str, Any], ev: ScoredEvent) -> None:
    """Explanation material for negative posts: top posts by p(negative), negatives by modality, term counts."""
    top = bucket.setdefault("top", [])
    top.append([round(ev.p_neg, 4), ev.post_id, ev.text[:140], ev.source])
    top.sort(key=lambda x: -x[0])
    del top[TOP_POSTS:]
    mods = bucket.setdefault("mods", {})
    for m in ev.modalities or ("text",):
        mods[m] = mods.get(m, 0) + 1
    terms = bucket.setdefault("terms", {})
    for w in terms_of(ev.text, ev.topic):
        terms[w] = terms.get(w, 0) + 1
    if len(terms) > 4 * MAX_TERMS:
        keep = sorted(terms.items(), key=lambda kv: -kv[1])[:MAX_TERMS]
        bucket["terms"] = dict(keep)


def bucket_start(ts_ms: int, size_ms: int) -> int:
    return ts_ms - ts_ms % size_ms


def first_open_bucket(watermark: int, cfg: WindowConfig) -> int:
    """Start of the earliest bucket this watermark cannot close yet (s + size + grace > watermark): an on-time post
    may still arrive for it from a slower raw partition, so a quiet topic's state must not jump past it."""
    return bucket_start(watermark - cfg.size_ms - cfg.grace_ms, cfg.size_ms) + cfg.size_ms


def empty_counts() -> dict[str, Any]:
    return {"n": 0, "neg": 0, "neu": 0, "pos": 0, "uns": 0, "ssum": 0.0}


def new_state() -> dict[str, Any]:
    return {"next": None, "open": {}, "closed": {}}


def add_event(state: dict[str, Any], ev: ScoredEvent, watermark: int, cfg: WindowConfig,
              max_event_ms: int | None = None) -> str:
    """Mutates state. Returns 'added', 'duplicate' or 'late'. `max_event_ms` (wall clock + the allowed skew, as the
    watermark is capped): a post stamped further ahead is counted in the bucket of that cap, so it cannot open a
    far-future bucket that would make every later post of a quiet topic late."""
    ts = ev.event_ms if max_event_ms is None else min(ev.event_ms, max_event_ms)
    b = bucket_start(ts, cfg.size_ms)
    watermark = max(watermark, state.get("wm", 0))
    # late only if its bucket was closed: by this topic (done) or by the watermark. An earlier bucket than the first
    # open one (`next`) is not late: a topic's posts arrive out of order across raw partitions (seen replaying a
    # real stream over 4 partitions: ~1 % of in-order posts were counted late, the watermark still at 0)
    if b < state.get("done", b) or b + cfg.size_ms + cfg.grace_ms <= watermark:
        return "late"
    bucket = state["open"].setdefault(str(b), {**empty_counts(), "ids": {}})
    ids = bucket["ids"]
    if isinstance(ids, list):  # state written by an older version: ids as a list
        ids = bucket["ids"] = dict.fromkeys(ids, 1)
    if ev.post_id in ids:
        return "duplicate"
    ids[ev.post_id] = 1
    key = LABEL_KEY.get(ev.label)
    if key is None:
        bucket["uns"] += 1
    else:
        bucket["n"] += 1
        bucket[key] += 1
        bucket["ssum"] += float(ev.score)
        if key == "neg":
            _explain(bucket, ev)
    if state["next"] is None or b < state["next"]:
        state["next"] = b
    return "added"


def window_stat(topic: str, kind: str, start: int, end: int, c: dict[str, Any], now_ms: int) -> dict[str, Any]:
    n = c["n"]
    return {"topic": topic, "kind": kind, "start_ms": start, "end_ms": end, "n": n, "negatives": c["neg"],
            "neutrals": c["neu"], "positives": c["pos"], "negative_rate": c["neg"] / n if n else 0.0,
            "mean_score": c["ssum"] / n if n else 0.0, "unscored": c["uns"], "closed_at_ms": now_ms}


def _sum(counts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = empty_counts()
    for c in counts:
        for k in (*COUNT_KEYS, "ssum"):
            total[k] += c[k]
    return total


def close_windows(state: dict[str, Any], topic: str, watermark: int, cfg: WindowConfig,
                  now_ms: int) -> list[dict[str, Any]]:
    """Mutates state; returns closed window stats (tumbling, then the hopping window ending there)."""
    out: list[dict[str, Any]] = []
    size = cfg.size_ms
    watermark = max(watermark, state.get("wm", 0))
    state["wm"] = watermark
    while state["next"] is not None and state["next"] + size + cfg.grace_ms <= watermark:
        start = state["next"]
        bucket = state["open"].pop(str(start), None) or empty_counts()
        counts = {k: bucket[k] for k in (*COUNT_KEYS, "ssum")}
        stat = window_stat(topic, "tumbling", start, start + size, counts, now_ms)
        stat["top_negative"] = [{"id": i, "p_negative": p, "text": t, "source": src}
                                for p, i, t, src in bucket.get("top", [])]
        stat["negative_by_modality"] = bucket.get("mods", {})
        stat["negative_terms"] = dict(sorted(bucket.get("terms", {}).items(), key=lambda kv: -kv[1])[:MAX_TERMS])
        out.append(stat)
        state["closed"][str(start)] = counts
        end = start + size
        if end % cfg.hop_step_ms == 0:
            lo = end - cfg.hop_size_ms
            in_hop = [c for s, c in state["closed"].items() if lo <= int(s) < end]
            out.append(window_stat(topic, "hopping", lo, end, _sum(in_hop), now_ms))
        state["closed"] = {s: c for s, c in state["closed"].items() if int(s) >= end - cfg.hop_size_ms + size}
        state["next"] = end
        state["done"] = end
        quiet = all(c["n"] + c["uns"] == 0 for c in state["closed"].values())
        if quiet:
            if not state["open"]:  # idle topic: forget it (bounded state)
                state["next"], state["closed"] = None, {}
            else:  # skip an empty stretch, but never past a bucket the watermark has not closed yet
                state["next"] = max(end, min(min(int(s) for s in state["open"]),
                                             first_open_bucket(watermark, cfg)))
                if state["next"] > end:
                    state["closed"] = {}
    return out


RETENTION_MS = 15 * 60_000


def is_idle(state: dict[str, Any], retention_ms: int = RETENTION_MS) -> bool:
    """Nothing open and the watermark `retention_ms` past the last closed bucket: the state can be dropped."""
    return state["next"] is None and not state["open"] and \
        state.get("wm", 0) >= state.get("done", 0) + retention_ms


def reference_tumbling(events: Iterable[ScoredEvent], size_ms: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Independent reference: counts per (topic, bucket start) over unique (topic, post id)."""
    seen: set[tuple[str, str]] = set()
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for ev in events:
        if (ev.topic, ev.post_id) in seen:
            continue
        seen.add((ev.topic, ev.post_id))
        c = out.setdefault((ev.topic, bucket_start(ev.event_ms, size_ms)), empty_counts())
        key = LABEL_KEY.get(ev.label)
        if key is None:
            c["uns"] += 1
        else:
            c["n"] += 1
            c[key] += 1
            c["ssum"] += ev.score
    return out
