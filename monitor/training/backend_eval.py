"""`monitor eval text-backends`: the int8 CPU backend against the fp32 torch model on every text dev set.

Same artefact, same texts, same run; macro-F1 of both and their difference (the hot-path v2 contract: within
0.01 on each dev set), plus each backend's texts/s measured on the same texts.
"""

from __future__ import annotations

import time
from typing import Any

from monitor import LABELS


def eval_backends(data_dir: str | None = None, batch_size: int = 64) -> dict[str, Any]:
    from monitor.score.text_model import TextSentimentModel
    from monitor.training.metrics import classification_report
    from monitor.training.text_data import load_splits

    _, dev = load_splits(data_dir)
    models = {"torch_fp32": TextSentimentModel(device="cpu", batch_size=batch_size, backend="torch"),
              "int8": TextSentimentModel(device="cpu", batch_size=batch_size, backend="int8")}
    out: dict[str, Any] = {"sets": {}}
    seconds = dict.fromkeys(models, 0.0)
    n_total = 0
    for name, examples in dev.items():
        texts, y = [e.text for e in examples], [e.label for e in examples]
        n_total += len(texts)
        row: dict[str, Any] = {"n": len(texts)}
        for key, m in models.items():
            t0 = time.perf_counter()
            probs = m.predict_proba(texts).numpy()
            seconds[key] += time.perf_counter() - t0
            row[f"macro_f1_{key}"] = round(classification_report(y, probs.argmax(1).tolist(), LABELS, probs)
                                           ["macro_f1"], 4)
        row["delta"] = round(row["macro_f1_int8"] - row["macro_f1_torch_fp32"], 4)
        row["within_0_01"] = abs(row["delta"]) <= 0.01
        out["sets"][name] = row
    out["texts_per_s"] = {k: round(n_total / max(v, 1e-9), 1) for k, v in seconds.items()}
    out["all_within_0_01"] = all(r["within_0_01"] for r in out["sets"].values())
    out["model"] = models["int8"].version
    return out
