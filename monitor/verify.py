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


def account_ids(ids: Iterable[str], scored: list[dict[str, Any]], dlq: list[dict[str, Any]]) -> dict[str, Any]:
    """`monitor verify --ids`: exactly these posts (whatever else is on the topics): each one scored (with its
    label), dead-lettered (with the reason) or lost, and its deliveries on posts.scored. The window checks need
    every post of a topic, so they are not made here (`windows_checked: false`)."""
    wanted = list(dict.fromkeys(ids))
    want = set(wanted)
    deliveries: dict[str, int] = {}
    label: dict[str, str] = {}
    for r in scored:
        pid = r.get("id")
        if pid in want:
            deliveries[pid] = deliveries.get(pid, 0) + 1
            label.setdefault(pid, str(r.get("label")))
    reason = {r["post_id"]: str(r.get("reason")) for r in dlq
              if r.get("post_id") in want and r.get("reason") != "alert_delivery_failed"}
    posts = []
    for pid in wanted:
        if pid in label:
            posts.append({"id": pid, "status": "scored", "label": label[pid], "deliveries": deliveries[pid]})
        elif pid in reason:
            posts.append({"id": pid, "status": "dead_lettered", "reason": reason[pid], "deliveries": 0})
        else:
            posts.append({"id": pid, "status": "lost", "deliveries": 0})
    lost = [p["id"] for p in posts if p["status"] == "lost"]
    return {"produced": len(wanted), "scored": len(label), "dead_lettered": sum(p["status"] == "dead_lettered"
                                                                               for p in posts),
            "lost": len(lost), "lost_ids": lost[:50], "duplicate_deliveries": sum(max(0, n - 1)
                                                                                  for n in deliveries.values()),
            "windows_checked": False, "posts": posts}


def report_text(rep: dict[str, Any]) -> str:
    """The human form of `account` / `account_ids`."""
    from monitor.inspect import when

    out = [f"produced {rep['produced']}, scored {rep['scored']}, dead-lettered {rep['dead_lettered']}, lost "
           f"{rep['lost']}, duplicate deliveries {rep['duplicate_deliveries']}"]
    if rep.get("windows_checked", True):
        out.append(f"windows {rep['windows']}: double-counted {rep['double_counted']}, missed "
                   f"{rep['missed_in_windows']}, conflicting emissions {rep['conflicting_window_emissions']}")
        out += [f"  short window {w['topic']} from {when(w['start_ms'])} UTC: expected {w['expected']}, got {w['got']}"
                for w in rep.get("short_windows", [])]
    else:
        out.append("windows: not checked (--ids names some posts; the window counts need all of them)")
        out += [f"  {p['id']}: {p['status']}" + (f" ({p.get('label') or p.get('reason')})"
                                                  if p["status"] != "lost" else "")
                + (f", delivered {p['deliveries']} times" if p["deliveries"] > 1 else "")
                for p in rep.get("posts", [])[:200]]
    if rep["lost_ids"]:
        out.append("lost ids: " + ", ".join(rep["lost_ids"]) + (" …" if rep["lost"] > len(rep["lost_ids"]) else ""))
    return "\n".join(out)
