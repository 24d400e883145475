"""The Scorer interface: a batch of posts -> per post probabilities, label, contributing modalities, model.

Implementations must be safe to call from a worker thread, must not raise for one bad post (return
`error` for that post instead), and may block for the duration of the batch (the app runs them in an executor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from monitor import LABELS
from monitor.types import Post

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    probs: tuple[float, float, float] | None  # negative, neutral, positive; None when unscored
    label: str  # one of LABELS, or "unscored_modality"
    modalities: list[str]
    model: str
    error: str | None = None
    seconds_by_modality: dict[str, float] = field(default_factory=dict)
    reason: str = "scorer_error"  # DLQ reason code when error is set (e.g. bad_image, audio_too_long)
    by_modality: dict[str, list[float]] = field(default_factory=dict)  # per-modality (neg, neu, pos) evidence
    evidence: dict[str, object] = field(default_factory=dict)  # OCR text, transcript, faces, arousal ...
    contributions: dict[str, float] = field(default_factory=dict)  # fusion attention weight per modality (sum 1)
    shed_reason: str | None = None  # media enrichment skipped (media lane over capacity); scored on its text
    cached: bool = False  # probabilities taken from the duplicate-text cache


class Scorer(Protocol):
    name: str
    version: str

    def score(self, posts: Sequence[Post]) -> list[ScoreResult]: ...


class TextScorer:
    """Scores the text of each post with `predict_proba(list[str]) -> (n, 3) array`.

    Posts without text are returned as `unscored_modality` (media posts go to `MultimodalScorer`).
    If the model fails on a batch, each post is retried alone so one bad post cannot sink the others.
    """

    def __init__(self, name: str, version: str, predict_proba: Callable[[list[str]], np.ndarray]) -> None:
        self.name = name
        self.version = version
        self.predict_proba = predict_proba  # public: the fusion and the evals call it directly

    def score(self, posts: Sequence[Post]) -> list[ScoreResult]:
        import time

        out: list[ScoreResult | None] = [None] * len(posts)
        idx = [i for i, p in enumerate(posts) if p.text and p.text.strip()]
        with_text = set(idx)
        for i, p in enumerate(posts):
            if i not in with_text:
                kinds = sorted({m.kind for m in p.media})
                out[i] = ScoreResult(None, "unscored_modality", kinds, self.version)
        t0 = time.perf_counter()
        texts = [posts[i].text or "" for i in idx]
        try:
            probs = np.asarray(self.predict_proba(texts), dtype=float) if texts else np.zeros((0, 3))
            rows = probs.tolist()  # one conversion per batch, not three numpy scalar reads per post
            per = {i: rows[j] for j, i in enumerate(idx)}
            errors: dict[int, str] = {}
        except Exception:  # noqa: BLE001 - isolate the failing post
            per, errors = {}, {}
            for i in idx:
                try:
                    per[i] = np.asarray(self.predict_proba([posts[i].text or ""]), dtype=float)[0].tolist()
                except Exception as exc:  # noqa: BLE001
                    errors[i] = f"{type(exc).__name__}: {exc}"[:300]
        dt = (time.perf_counter() - t0) / max(1, len(idx))
        for i in idx:
            if i in errors:
                out[i] = ScoreResult(None, "error", ["text"], self.version, error=errors[i])
                continue
            p = per[i]
            out[i] = ScoreResult((p[0], p[1], p[2]), LABELS[p.index(max(p))],
                                 ["text"], self.version, seconds_by_modality={"text": dt})
        return [r for r in out if r is not None]
