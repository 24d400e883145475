"""Every record the stages build satisfies its wire model in monitor/types.py (extra fields are errors)."""

import json
import random

import pytest
from pydantic import ValidationError

from monitor.aggregate.windows import ScoredEvent, WindowConfig, add_event, close_windows, new_state
from monitor.detect.engine import process_volume, process_window
from monitor.detect.lifecycle import LifecycleConfig
from monitor.detect.rate import RateConfig
from monitor.detect.silences import silence_record
from monitor.detect.volume import VolumeConfig
from monitor.ingest.records import bytopic_batches, dlq_value, scored_record, topic_event
from monitor.score.base import ScoreResult
from monitor.types import (
    AlertRecord,
    DlqRecord,
    Post,
    ScoredPost,
    SilenceRecord,
    TopicBatch,
    WindowStat,
)

MIN = 60_000


def _post(i: int, text: str = "awful $ACME results") -> Post:
    return Post.model_validate({"id": f"p{i}", "created_at": 1_700_000_000_000 + i, "text": text})


RESULTS = [
    ScoreResult((0.8, 0.15, 0.05), "negative", ["text"], "text-model"),
    ScoreResult((0.1, 0.2, 0.7), "positive", ["text", "image"], "fusion", by_modality={"text": [0.1, 0.2, 0.7]},
                evidence={"ocr": "to the moon", "faces": 1}, contributions={"text": 0.6, "image": 0.4},
                shed_reason=None),
    ScoreResult((0.3, 0.5, 0.2), "neutral", ["text"], "text-model", shed_reason="media_lane_full", cached=True),
    ScoreResult(None, "unscored_modality", ["audio"], "none"),
]


@pytest.mark.parametrize("res", RESULTS, ids=lambda r: r.label)
def test_scored_and_bytopic_records_match_the_schema(res):
    post = _post(1)
    rec = scored_record(post, res, ["$ACME", "_all"], 0.12, "media" if "image" in res.modalities else "text")
    ScoredPost.model_validate(json.loads(json.dumps(rec)))
    batches = bytopic_batches([(["$ACME"], topic_event(post, res))])
    TopicBatch.model_validate(json.loads(json.dumps(batches["$ACME"])))


def test_dlq_and_silence_records_match_the_schema():
    DlqRecord.model_validate(dlq_value("schema", "id: missing", b"{}", "posts.raw", 2, 7, None))
    SilenceRecord.model_validate(silence_record("$ACME", 900, "deploy", "me", now_s=1_700_000_000))


def test_windows_and_alerts_match_the_schema():
    cfg = WindowConfig(size_ms=MIN, hop_size_ms=3 * MIN, hop_step_ms=MIN, grace_ms=0)
    rng = random.Random(3)
    state, stats = new_state(), []
    for m in range(120):
        share = 0.7 if 90 <= m < 96 else 0.2
        for j in range(60 if 90 <= m < 96 else 40):
            label = "negative" if rng.random() < share else rng.choice(["neutral", "positive"])
            add_event(state, ScoredEvent(f"{m}-{j}", "$ACME", m * MIN + j * 500, label, -0.5,
                                         p_neg=0.9, source="t", text="awful awful results",
                                         modalities=("text",)) if label == "negative"
                      else ScoredEvent(f"{m}-{j}", "$ACME", m * MIN + j * 500, label, 0.1), 0, cfg)
        stats += close_windows(state, "$ACME", (m + 1) * MIN, cfg, now_ms=(m + 1) * MIN)
    assert {s["kind"] for s in stats} == {"tumbling", "hopping"}
    for s in stats:
        WindowStat.model_validate(json.loads(json.dumps(s)))
    rstate, vstate, alerts = None, None, []
    life = LifecycleConfig(resolve_windows=2)
    for w in (s for s in stats if s["kind"] == "tumbling"):
        new, rec = process_window(rstate, w, RateConfig(warmup_s=1200), life)
        rstate = json.loads(json.dumps(new)) if new else rstate
        newv, recv = process_volume(vstate, w, VolumeConfig(warmup_s=1200), life)
        vstate = json.loads(json.dumps(newv)) if newv else vstate
        alerts += [r for r in (rec, recv) if r]
    assert {(a["signal"], a["status"]) for a in alerts} >= {("negative_rate", "firing"), ("negative_rate", "resolved")}
    for a in alerts:
        AlertRecord.model_validate(json.loads(json.dumps(a)))


def test_the_schema_rejects_an_unknown_field():
    rec = scored_record(_post(2), RESULTS[0], ["$ACME"], 0.1, "text")
    with pytest.raises(ValidationError):
        ScoredPost.model_validate({**rec, "surprise": 1})
