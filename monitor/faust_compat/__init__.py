"""Everything that patches Faust / aiokafka or reads their private state, in one place (#32.3).

Written against **faust-streaming 0.15.3** and **aiokafka 0.14.0** (pinned in pyproject.toml); `check_versions()`
refuses to start a worker on other versions, because each item below relies on internals that change between
releases. Anyone upgrading Faust: read this list, run `tests/unit/test_faust_patches.py`,
`tests/unit/test_faust_seek_race.py`, `tests/unit/test_ordering.py`, `tests/unit/test_ingest_progress.py` and the
crash tests (`tests/integration/test_crash.py`, `tests/reliability/`), then move `TESTED`.

| module | what it does | why (the measured failure it prevents) | test that fails without it |
|---|---|---|---|
| `patches.install` fix 1 | a stream partition never committed is sought to its beginning after recovery | a restarted worker skipped pending alerts (Faust resumes and fetches before it seeks; aiokafka's seek_to_committed skips offset 0) | tests/integration/test_alerts.py::test_pending_delivery_survives_worker_crash |
| `patches.new_offset` (fix 2) | a commit never passes an unacknowledged record at the head | Faust's head check is off by one and skipped for never-committed partitions: a pending media post or a dropped record was committed over (lost by kill -9) | tests/unit/test_faust_patches.py |
| `patches` seek guard (fix 3) | records fetched before a seek are not delivered after it | after a seek, the rest of an old batch was delivered and moved the read offset: records skipped (the restart race) | tests/unit/test_faust_seek_race.py |
| `patches.co_partition` | a table key derived from another (id chunks) goes to that key's changelog partition | with `use_partitioner=True` a derived key hashed elsewhere and recovered on another worker | tests/unit/test_bounded_state.py::test_id_chunks_go_to_the_changelog_partition_of_their_topic |
| `ordered_stream.OrderedStream` + `ordering.OrderGate` | the windows / alerts agents take records in offset order; holes held, re-read, given up | Faust can deliver a partition's records out of order across a seek; an alert resolution before its firing | tests/unit/test_ordering.py |
| `ordered_stream.release_held` (+ `patches.BEFORE_WAIT_EMPTY`) | held records let go unacknowledged before Faust waits for acknowledgements | Faust's rebalance / shutdown waited for ever on a record held behind a hole | tests/unit/test_ordering.py |
| `progress.IngestProgress` | per partition, the contiguous frontier of what a stage finished; busy vs stalled | a record fetched but never delivered to the stream (restart race) closed windows without it; a busy worker was taken for a stalled one (#30.13) | tests/unit/test_ingest_progress.py |
| `read_offset`, `committed_offset`, below | the consumer's own bookkeeping, passively | an active `position()` probe raced with Faust's seek to committed offsets after a rebalance | tests/integration/test_crash.py |
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

TESTED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UnsupportedVersion(RuntimeError):
    """Faust or aiokafka is not the version the workarounds were written against."""


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Refuse other versions than TESTED, with what to do (set MONITOR_ALLOW_UNTESTED_FAUST=1 to try anyway)."""
    import os

    if os.environ.get("MONITOR_ALLOW_UNTESTED_FAUST") == "1":
        return
    got = installed
    if got is None:
        got = {}
        for dist in TESTED:
            try:
                got[dist] = version(dist)
            except PackageNotFoundError:
                got[dist] = "not installed"
    wrong = {d: got.get(d) for d, want in TESTED.items() if got.get(d) != want}
    if wrong:
        have = ", ".join(f"{d} {v}" for d, v in wrong.items())
        want = ", ".join(f"{d}=={TESTED[d]}" for d in wrong)
        raise UnsupportedVersion(
            f"{have} installed, but the Faust workarounds (monitor/faust_compat) were written against {want}: "
            f"install those (bash scripts/setup.sh), or read monitor/faust_compat/__init__.py and rerun its tests "
            f"before setting MONITOR_ALLOW_UNTESTED_FAUST=1")


def read_offset(consumer: Any, tp: Any) -> int | None:
    """Faust's per-partition read position (the last offset handed to the streams), or None."""
    return consumer._read_offset.get(tp)  # type: ignore[no-any-return]  # noqa: SLF001 - Faust's own


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """Faust's committed offset of a partition (the next offset to read), or None if never committed."""
    return consumer._committed_offset.get(tp)  # type: ignore[no-any-return]  # noqa: SLF001 - Faust's own
