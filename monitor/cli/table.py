"""Side-by-side tables the evaluation commands print (shared by cli.models and cli.media: no import circle)."""

from __future__ import annotations

HEADLINE = ("accuracy", "macro_recall", "macro_f1", "ece")


def side_by_side(rows: list[dict], n: int) -> str:
    """Headline metrics of several models on one file, the first row the model under test."""
    width = max(len(r["model"]) for r in rows)
    out = [f"side by side (n={n})", f"{'model':<{width}}  " + "  ".join(f"{k:>12}" for k in HEADLINE)]
    out += [f"{r['model']:<{width}}  " + "  ".join(f"{r[k]:>12.4f}" for k in HEADLINE) for r in rows]
    return "\n".join(out)
