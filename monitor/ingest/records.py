"""Output records of the ingest stage, built from a scored post (pure; the wire schema lives here).

posts.scored       one record per post, key = post id (`scored_record`)
<app>-bytopic      one record per (batch, topic), key = topic: {"events": [compact event, ...]} (`bytopic_batches`)
posts.dlq          one record per invalid message (`dlq_value`)
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from monitor.score.base import ScoreResult
from monitor.types import Post

LABEL_ORDER = ("negative", "neutral", "positive")


def dlq_value(reason: str, detail: str, raw: bytes | None, topic: str, partition: int, offset: int,
              post_id: str | None) -> dict[str, Any]:
    return {"reason": reason, "detail": detail, "original_b64": base64.b64encode(raw or b"").decode(),
            "source_topic": topic, "partition": partition, "offset": offset, "post_id": post_id,
            "time": datetime.now(UTC).isoformat()}


def negative_drivers(by_modality: dict[str, list[float]], contributions: dict[str, float]) -> list[str]:
    """Modalities that carried the negative evidence: negative is their strongest class and (when the fusion
    recorded contributions) they hold at least 15 % of the attention."""
    return [m for m, v in by_modality.items()
            if v and v[0] == max(v) and (not contributions or contributions.get(m, 0.0) >= 0.15)]


def probs_dict(res: ScoreResult) -> dict[str, float]:
    return dict(zip(LABEL_ORDER, res.probs, strict=True)) if res.probs else {}


def scored_record(post: Post, res: ScoreResult, topics: list[str], latency_s: float, lane: str) -> dict[str, Any]:
    """The posts.scored value. `media_shed`/`shed_reason`: media enrichment skipped under overload."""
    rec = {"id": post.id, "topics": topics, "event_ms": post.event_ms, "source": post.source,
           "probs": probs_dict(res), "label": res.label, "modalities": res.modalities, "model": res.model,
           "latency_s": latency_s, "text": (post.text or "")[:280], "by_modality": res.by_modality,
           "evidence": res.evidence, "contributions": res.contributions, "lane": lane,
           "media_shed": res.shed_reason is not None}
    if res.shed_reason:
        rec["shed_reason"] = res.shed_reason
    if res.cached:
        rec["cached"] = True
    return rec


def topic_event(post: Post, res: ScoreResult) -> dict[str, Any]:
    """The compact per-post event the aggregation stage counts (explanation material for negatives only)."""
    probs = probs_dict(res)
    value: dict[str, Any] = {"id": post.id, "ts": post.event_ms, "label": res.label,
                             "score": probs.get("positive", 0.0) - probs.get("negative", 0.0)}
    if res.label == "negative":
        value.update({"pn": probs["negative"], "src": post.source, "tx": (post.text or "")[:140],
                      "mod": negative_drivers(res.by_modality, res.contributions) or res.modalities})
    return value


def bytopic_batches(items: Iterable[tuple[list[str], dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """(topics, event) pairs -> one record value per topic: {"topic": t, "events": [...]} (order kept)."""
    out: dict[str, dict[str, Any]] = {}
    for topics, ev in items:
        for t in topics:
            out.setdefault(t, {"topic": t, "events": []})["events"].append(ev)
    return out
