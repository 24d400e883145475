"""`monitor train text-pseudo`: pseudo-labels for one round of self-training (noisy student, #33.2).

The current model labels the unlabelled posts that carry no gold label (the MVSA training tweets and the real
cashtag stream, minus the finance-chatter dev set: `dapt.unlabelled_pool`); a post is kept when its top probability
reaches `min_confidence`, and each class is cut to the size of the smallest (class balance, the most confident
first), so the student does not inherit the teacher's prior. The student is then trained with the pseudo-labels as
a fourth domain and input noise (`monitor train text --pseudo-labels F --mix-pseudo 0.2 --token-drop 0.1`); it is
kept only if the dev selection score improves by at least 0.005 (the rule fixed before the run).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from monitor import LABELS

UNLABELLED_SOURCES = ("mvsa_multiple_train", "mvsa_single_train", "stocknet_dev_stream")


def select_confident(probs: np.ndarray, min_confidence: float, cap: int = 0) -> dict[int, list[int]]:
    """Per class, the row indices whose argmax is that class with probability >= min_confidence, the most confident
    first, every class cut to the smallest class's count (and to `cap` when > 0)."""
    top, arg = probs.max(1), probs.argmax(1)
    picked: dict[int, list[int]] = {}
    for c in range(probs.shape[1]):
        idx = np.flatnonzero((arg == c) & (top >= min_confidence))
        picked[c] = idx[np.argsort(-top[idx], kind="stable")].tolist()
    n = min(len(v) for v in picked.values())
    if n == 0:
        empty = [LABELS[c] for c, v in picked.items() if not v]
        raise ValueError(f"no post reaches confidence {min_confidence} for {empty}: lower --min-confidence")
    if cap:
        n = min(n, cap)
    return {c: v[:n] for c, v in picked.items()}


def pseudo_label(out: Path, min_confidence: float = 0.9, cap: int = 0, model_dir: Path | None = None,
                 data_dir: Path | None = None) -> dict[str, Any]:
    from monitor.score.text_model import DEFAULT_ARTEFACT, TextSentimentModel
    from monitor.training.dapt import unlabelled_pool

    pool = unlabelled_pool(data_dir)
    texts = [t for name in UNLABELLED_SOURCES for t in pool.get(name, [])]
    model = TextSentimentModel(model_dir or DEFAULT_ARTEFACT, device="cpu", batch_size=256, backend="int8")
    from tqdm.auto import tqdm

    chunks = [texts[i:i + 2048] for i in range(0, len(texts), 2048)]
    probs = np.concatenate([model.predict_proba(c).numpy() for c in tqdm(chunks, desc="pseudo-label", unit="chunk")])
    picked = select_confident(probs, min_confidence, cap)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["label", "text", "confidence"])
        for c, idx in picked.items():
            for i in idx:
                w.writerow([LABELS[c], texts[i].replace("\t", " ").replace("\n", " "), f"{probs[i].max():.4f}"])
    return {"teacher": model.version, "unlabelled": len(texts), "min_confidence": min_confidence,
            "confident_per_class_before_balance": {LABELS[c]: int(((probs.argmax(1) == c)
                                                                   & (probs.max(1) >= min_confidence)).sum())
                                                   for c in range(len(LABELS))},
            "kept_per_class": {LABELS[c]: len(v) for c, v in picked.items()}, "out": str(out)}
