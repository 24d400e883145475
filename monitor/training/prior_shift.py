"""Class-prior shift (#33 item 3): estimate a stream's class prior from the model's posteriors alone and adjust.

Saerens, Latinne & Decaestecker (2002), "Adjusting the outputs of a classifier to new a priori probabilities": with
posteriors p(y|x) calibrated under a source prior π_s, the posteriors under a target prior π_t are
p_t(y|x) ∝ p(y|x) · π_t(y) / π_s(y); π_t is unknown, so EM alternates π_t = mean_x p_t(y|x) and the adjustment.

`monitor eval prior-shift` measures it on the dev sets: each dev set is resampled (with replacement, stratified) to
the class priors of the other dev sets and to two skewed priors, and scored with the model's posteriors as they are,
adjusted with the EM estimate, and adjusted with the true target prior (a ceiling). Accuracy and macro-F1 depend on
the prior; macro-recall, the project's headline, does not in expectation for a fixed classifier — moving decisions
toward the frequent class can lower it. Dev figures only: nothing here was fitted on test data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SKEWED = {"negative_heavy": (0.5, 0.3, 0.2), "positive_heavy": (0.15, 0.35, 0.5)}


def adjust(probs: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Posteriors re-weighted from the source prior to the target prior (rows sum to 1)."""
    w = np.asarray(target, float) / np.clip(np.asarray(source, float), 1e-9, None)
    q = probs * w
    return q / q.sum(1, keepdims=True)


def em_prior(probs: np.ndarray, source: np.ndarray, iters: int = 200, tol: float = 1e-7) -> np.ndarray:
    """The target prior that makes the adjusted posteriors' mean equal to itself (Saerens et al. 2002, EM)."""
    prior = np.asarray(source, float).copy()
    for _ in range(iters):
        new = adjust(probs, source, prior).mean(0)
        if np.abs(new - prior).max() < tol:
            return new
        prior = new
    return prior


def resample(labels: np.ndarray, target: np.ndarray, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Indices of a sample of `n` (default: all) with class proportions `target` (drawn with replacement)."""
    n = n or len(labels)
    counts = np.floor(np.asarray(target) * n).astype(int)
    counts[int(np.argmax(target))] += n - counts.sum()
    out = [rng.choice(np.flatnonzero(labels == c), size=k, replace=True) for c, k in enumerate(counts) if k]
    return np.concatenate(out)


def _scores(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    from monitor.training.metrics import classification_report

    rep = classification_report(y.tolist(), probs.argmax(1).tolist(), ["negative", "neutral", "positive"])
    return {k: round(float(rep[k]), 4) for k in ("accuracy", "macro_f1", "macro_recall")}


def evaluate(sets: dict[str, tuple[np.ndarray, np.ndarray]], sources: dict[str, np.ndarray], seed: int = 7
             ) -> dict[str, Any]:
    """sets: name -> (labels, model posteriors); sources: name -> the prior the posteriors are calibrated to."""
    rng = np.random.default_rng(seed)
    priors = {name: np.bincount(y, minlength=3) / len(y) for name, (y, _) in sets.items()}
    targets = {**{f"prior_of_{k}": v for k, v in priors.items()}, **{k: np.array(v) for k, v in SKEWED.items()}}
    out: dict[str, Any] = {"method": "Saerens et al. 2002 EM on the model's posteriors", "sets": {}}
    for name, (y, p) in sets.items():
        rows = {}
        for tname, target in targets.items():
            idx = resample(y, target, rng)
            ys, ps = y[idx], p[idx]
            est = em_prior(ps, sources[name])
            rows[tname] = {"target_prior": [round(float(x), 3) for x in target],
                           "em_prior": [round(float(x), 3) for x in est],
                           "as_is": _scores(ys, ps), "em_adjusted": _scores(ys, adjust(ps, sources[name], est)),
                           "true_prior_adjusted": _scores(ys, adjust(ps, sources[name], target))}
        out["sets"][name] = {"n": int(len(y)), "own_prior": [round(float(x), 3) for x in priors[name]], "targets": rows}
    return out
