"""Worker memory housekeeping: give freed heap back to the OS, and (for diagnosis) trace Python allocations.

glibc keeps freed memory in its arenas; a long-running worker whose batches change shape (text lengths, image sizes,
audio durations) leaves holes at the top of the heap that it never returns, and RSS creeps up although the live heap
does not grow. `malloc_trim(0)` releases free pages of every arena (also inside the heap, via madvise). One call
costs a few milliseconds; the housekeeper calls it every `malloc_trim_interval_s` — off by default: in the worker the
trimmed pages are faulted back within seconds (media batches reuse them), so trimming turned a flat RSS at the heap's
high-water mark into a ±100 MB saw-tooth whose floor crept up for ~30 minutes, and cost media throughput
(docs/operations.md#soak).

`MONITOR_TRACEMALLOC=<file.jsonl>` (diagnosis only: tracing slows Python allocations) starts tracemalloc in the
worker at the first housekeeping round (after start-up, so only allocations made later are traced and snapshots stay
small) and appends, every interval, the traced total and the 15 source lines whose live allocations grew most since
the first snapshot: the tool that tells Python-level growth (a cache, a buffer, a list of ids) from allocator
growth (RSS grows, traced memory does not)."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def malloc_trim() -> bool:
    """Return free heap pages to the OS (glibc only; False elsewhere)."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Housekeeper:
    """Daemon thread: every `interval_s`, malloc_trim (if `trim`) and, when tracing, a snapshot diff to `trace_path`."""

    def __init__(self, interval_s: float, trim: bool = True, trace_path: str | None = None, top: int = 15) -> None:
        self.interval_s = interval_s
        self.trim = trim
        self.trace_path = Path(trace_path) if trace_path else None
        self.top = top
        self.trimmed_bytes = 0  # RSS released by the trims so far (sum of before - after, when positive)
        self._stop = threading.Event()
        self._first: Any = None
        self._thread = threading.Thread(target=self._run, name="memory-housekeeper", daemon=True)

    def start(self) -> Housekeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> dict[str, Any]:
        """One round (also called by tests): trim, then trace. Returns what it did."""
        out: dict[str, Any] = {"t": time.time()}
        if self.trim:
            before = rss_bytes()
            malloc_trim()
            after = rss_bytes()
            self.trimmed_bytes += max(0, before - after)
            out.update(rss_before=before, rss_after=after)
        if self.trace_path:
            out.update(self._trace())
        return out

    def _trace(self) -> dict[str, Any]:
        import tracemalloc

        if not tracemalloc.is_tracing():
            tracemalloc.start(int(os.environ.get("MONITOR_TRACEMALLOC_FRAMES", "1")))
        snap = tracemalloc.take_snapshot()
        traced, peak = tracemalloc.get_traced_memory()
        rec: dict[str, Any] = {"traced_mb": round(traced / 2**20, 1), "peak_mb": round(peak / 2**20, 1),
                               "rss_mb": round(rss_bytes() / 2**20, 1)}
        if self._first is None:
            self._first = snap
        else:
            stats = snap.compare_to(self._first, "lineno")[: self.top]
            rec["grew"] = [{"where": str(s.traceback[0]), "kb": round(s.size_diff / 1024), "count": s.count_diff}
                           for s in stats]
        assert self.trace_path is not None
        with self.trace_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        return rec

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.step()
            except Exception:  # noqa: BLE001 - housekeeping must never take the worker down
                log.exception("memory housekeeping failed")
