"""Raw text-model throughput (texts/s), tokenisation included, on the chosen device."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch


def bench_text_model(model: Any, texts: Sequence[str], batch_size: int, seconds: float = 5.0) -> dict[str, Any]:
    """Repeat predict_proba over `texts` for about `seconds`; report texts/s (warm-up excluded)."""
    model.batch_size = batch_size
    model.predict_proba(list(texts[: batch_size * 2]))  # warm-up (allocations, kernels)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    done = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.predict_proba(list(texts))
        done += len(texts)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"device": str(model.device), "batch_size": batch_size, "texts": done, "seconds": round(dt, 3),
            "texts_per_s": round(done / dt, 1),
            "mean_chars": round(sum(len(t) for t in texts) / max(1, len(texts)), 1)}
