"""Accounting: given the ids produced, what became of every post? (pure core + `monitor verify` adapter)

Reports produced, scored (unique), dead-lettered, lost (neither), duplicate deliveries on posts.scored, and, for
the closed tumbling windows, whether any window counted a post twice (more than the scored posts of that topic and
minute) or missed one (fewer), against a reference computed from the scored records themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from monitor.aggregate.windows import ScoredEvent, reference_tumbling


def account(produced_ids: Iterable[str], scored: list[dict[str, Any]], dlq: list[dict[str, Any]],
            windows: list[dict[str, Any]], size_ms: int = 60_000, anonymous_invalid: int = 0,
            skip_topics: Iterable[str] = ()) -> dict[str, Any]:
    """scored / dlq / windows: record values. anonymous_invalid: produced messages without a usable id."""
    produced = set(produced_ids)
    skip = set(skip_topics)
    dlq = [r for r in dlq if r.get("reason") != "alert_delivery_failed"]  # alerts, not posts
    by_id = {}
    for r in scored:
        by_id.setdefault(r["id"], r)
    dlq_ids = {r.get("post_id") for r in dlq if r.get("post_id")}
    scored_ids = set(by_id) & produced
    dead = (dlq_ids & produced) - scored_ids
    lost = sorted(produced - scored_ids - dead)
    anonymous_dlq = sum(1 for r in dlq if not r.get("post_id") or r.get("post_id") not in produced)
    events = [ScoredEvent(v["id"], t, v["event_ms"], v["label"], 0.0) for v in by_id.values() for t in v["topics"]
              if t not in skip]
    ref = reference_tumbling(events, size_ms)
    got: dict[tuple[str, int], tuple[int, int]] = {}
    conflicting = 0
    for w in windows:
        if w.get("kind") != "tumbling" or w["topic"] in skip:
            continue
        k = (w["topic"], w["start_ms"])
        val = (w["n"], w.get("unscored", 0))
        if k in got and got[k] != val:
            conflicting += 1
        got.setdefault(k, val)
    double = sum(max(0, got.get(k, (0, 0))[0] - c["n"]) + max(0, got.get(k, (0, 0))[1] - c["uns"])
                 for k, c in ref.items())
    double += sum(n + u for k, (n, u) in got.items() if k not in ref)
    missed = sum(max(0, c["n"] - got.get(k, (0, 0))[0]) + max(0, c["uns"] - got.get(k, (0, 0))[1])
                 for k, c in ref.items())
    short = [{"topic": k[0], "start_ms": k[1], "expected": c["n"] + c["uns"], "got": sum(got[k]) if k in got else None}
             for k, c in sorted(ref.items()) if sum(got.get(k, (0, 0))) < c["n"] + c["uns"]]
    return {"produced": len(produced) + anonymous_invalid, "scored": len(scored_ids), "dead_lettered": len(dead) + min(
        anonymous_dlq, anonymous_invalid), "lost": len(lost) + max(0, anonymous_invalid - anonymous_dlq),
        "lost_ids": lost[:50], "duplicate_deliveries": len(scored) - len(by_id),
        "windows": len(got), "double_counted": double, "missed_in_windows": missed,
        "conflicting_window_emissions": conflicting,
        "short_windows": short[:20]}  # where posts were missed: got None = the window was never emitted
