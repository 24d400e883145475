"""Classification metrics for evaluation reports (pure numpy, no ML framework)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[int(t), int(p)] += 1
    return cm


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], n_bins: int = 15) -> float:
    """ECE of the top-class confidence, equal-width bins over [0, 1]."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if len(y) == 0:
        return 0.0
    conf = probs.max(axis=1)
    pred = probs.argmax(axis=1)
    correct = (pred == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for i in range(n_bins):
        lo, hi = edges[i], edges[i + 1]
        mask = (conf > lo) & (conf <= hi) if i > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Single temperature minimising the NLL of held-out logits (LBFGS on log T). Used by every trainer."""
    import torch

    lg = torch.tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lg / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().item())


def classification_report(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    labels: Sequence[str],
    probs: np.ndarray | None = None,
) -> dict[str, Any]:
    """n, accuracy, macro recall/F1, per-class precision/recall/F1/support, confusion, ECE (if probs)."""
    k = len(labels)
    cm = confusion_matrix(y_true, y_pred, k)
    n = int(cm.sum())
    per_class: dict[str, dict[str, float]] = {}
    recalls, f1s = [], []
    for i, name in enumerate(labels):
        tp = cm[i, i]
        support = cm[i, :].sum()
        predicted = cm[:, i].sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(support),
        }
        recalls.append(recall)
        f1s.append(f1)
    report: dict[str, Any] = {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_recall": float(np.mean(recalls)),
        "macro_f1": float(np.mean(f1s)),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(labels),
    }
    if probs is not None:
        report["ece"] = expected_calibration_error(probs, y_true)
    return report


def format_report(report: dict[str, Any], title: str = "") -> str:
    """Human-readable table of a classification report."""
    labels = report["labels"]
    lines = []
    if title:
        lines.append(title)
    head = f"n={report['n']}  accuracy={report['accuracy']:.4f}  macro_recall={report['macro_recall']:.4f}  macro_f1={report['macro_f1']:.4f}"
    if "ece" in report:
        head += f"  ece={report['ece']:.4f}"
    lines.append(head)
    lines.append(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for name in labels:
        c = report["per_class"][name]
        lines.append(f"{name:<10} {c['precision']:>9.4f} {c['recall']:>7.4f} {c['f1']:>7.4f} {c['support']:>8d}")
    lines.append("confusion (rows=true, cols=pred): " + " ".join(labels))
    for name, row in zip(labels, report["confusion"], strict=True):
        lines.append(f"  {name:<10} " + " ".join(f"{v:>7d}" for v in row))
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: str, title: str = "") -> None:
    """Save the confusion matrix as a PNG (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion"])
    labels = report["labels"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title or f"n={report['n']} acc={report['accuracy']:.3f} macroF1={report['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
