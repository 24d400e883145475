"""VADER baseline: compound score -> three probabilities.

Mapping (documented, fixed): the compound score c in [-1, 1] is turned into logits
  neg = -k*(c + t), pos = k*(c - t), neu = 0    with t = 0.05 (VADER's own neutral band), k = 12,
then softmax. |c| < 0.05 gives neutral as the top class (VADER's recommended thresholds), and the
probabilities move smoothly with c, which is what "calibrated-ish" means here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD = 0.05
SHARPNESS = 12.0


def compound_to_proba(compound: np.ndarray) -> np.ndarray:
    c = np.asarray(compound, dtype=np.float64)
    logits = np.stack([-SHARPNESS * (c + THRESHOLD), np.zeros_like(c), SHARPNESS * (c - THRESHOLD)], axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


class VaderModel:
    version = "vader-3.3.2"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._sia = SentimentIntensityAnalyzer()

    def compound(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._sia.polarity_scores(t or "")["compound"] for t in texts], dtype=np.float64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return compound_to_proba(self.compound(texts))
