"""Reliability suite: each scenario appends the verifier's report to reliability-report.json."""

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import WorkerProc, broker, wait_until, workers  # noqa: F401

REPORT = Path("reliability-report.json")
_entries: list[dict] = []


@pytest.fixture(scope="session")
def report():
    yield _entries
    REPORT.write_text(json.dumps(_entries, indent=2) + "\n")


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *a):
        self.seconds = round(time.monotonic() - self.t0, 1)


def add_entry(report, name, trials, accounts, extra=None):
    report.append({"name": name, "trials": trials,
                   "produced": sum(a["produced"] for a in accounts), "lost": sum(a["lost"] for a in accounts),
                   "double_counted": sum(a["double_counted"] for a in accounts),
                   "missed_in_windows": sum(a.get("missed_in_windows", 0) for a in accounts),
                   "missed_in_windows_per_trial": [a.get("missed_in_windows", 0) for a in accounts],
                   "dlq": sum(a["dead_lettered"] for a in accounts),
                   "duration": sum(a.get("duration", 0) for a in accounts),
                   "short_windows": [a.get("short_windows", []) for a in accounts if a.get("short_windows")],
                   "survivor_metrics": [a["survivor_metrics"] for a in accounts if a.get("survivor_metrics")],
                   "rereads_per_trial": [a.get("rereads") for a in accounts],
                   "last_ticks": [a["last_ticks"] for a in accounts if a.get("last_ticks")],
                   "survivor_log_tail": [a["survivor_log_tail"] for a in accounts if a.get("survivor_log_tail")],
                   **(extra or {})})
