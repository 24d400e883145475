"""Readers of the shared training / evaluation data (../shared/data), used by training/, synth/ and the evals, so
that none of those packages imports another."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def default_data_dir() -> Path:
    """MONITOR_TRAINING_DATA, else ../shared/data next to the checkout, else ./shared/data. (Not MONITOR_DATA_DIR:
    that name was once also the worker's Faust directory, now `state_dir` / MONITOR_STATE_DIR.)"""
    env = os.environ.get("MONITOR_TRAINING_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]  # the checkout (monitor/data.py)
    for cand in (here.parent / "shared" / "data", here / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return here.parent / "shared" / "data"


def read_tsv(path: Path | str) -> list[dict[str, str]]:
    """Read a header TSV with standard CSV quoting."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))
