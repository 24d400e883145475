"""How a topic's window state is written to the aggregation table (its changelog) — pure (#30.7).

The in-memory state (`aggregate.windows`) keeps, per open bucket, every post id counted in it (the dedup that
makes counts idempotent by post id). Written whole, a busy topic's open bucket was rewritten to the changelog on
every batch: bytes per batch grew with the bucket (quadratic over a window). Here the table holds

* under the topic: the state without ids (counts, explanation material, `nids` per open bucket) — small, bounded;
* under `topic SEP bucket SEP k`: chunk k of the bucket's ids (ids [k*CHUNK, (k+1)*CHUNK) in insertion order).

A batch rewrites only the last, partial chunk and any new full ones of the buckets it added to, so the bytes
written per batch are bounded by the batch (plus one chunk per touched bucket), whatever the window size. A bucket
that closes deletes its chunks. `restore` rebuilds the in-memory state from the table (after a restart or a
rebalance). A state written by an older version (ids inside the bucket) restores as is.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

SEP = "\x1f"
CHUNK = 512  # ids per chunk record


def chunk_key(topic: str, bucket: str, k: int) -> str:
    return f"{topic}{SEP}{bucket}{SEP}{k}"


def is_chunk_key(key: Any) -> bool:
    return isinstance(key, str) and SEP in key


def _chunks(n: int) -> int:
    return (n + CHUNK - 1) // CHUNK


def writes(topic: str, state: dict[str, Any], gone: dict[str, int] | None = None) -> dict[str, Any]:
    """The table writes for `state` ({key: value}; value None = delete). Marks the ids written (`saved`).
    `gone`: buckets that closed since the last write -> ids they had written (their chunks are deleted)."""
    out: dict[str, Any] = {}
    meta_open: dict[str, Any] = {}
    for b, bucket in state["open"].items():
        ids = bucket.get("ids") or {}
        saved = bucket.get("saved", 0)
        if len(ids) > saved:
            first = saved // CHUNK
            for k in range(first, _chunks(len(ids))):
                out[chunk_key(topic, b, k)] = list(islice(ids, k * CHUNK, (k + 1) * CHUNK))
            bucket["saved"] = len(ids)
        meta_open[b] = {k: v for k, v in bucket.items() if k not in ("ids", "saved")} | {"nids": len(ids)}
    for b, n in (gone or {}).items():
        for k in range(_chunks(n)):
            out[chunk_key(topic, b, k)] = None
    out[topic] = {**{k: v for k, v in state.items() if k != "open"}, "open": meta_open}
    return out


def restore(topic: str, stored: dict[str, Any], get: Callable[[str], Any]) -> dict[str, Any]:
    """The in-memory state from the table: the topic's record and its buckets' id chunks."""
    state = {**stored, "open": {}}
    for b, meta in stored.get("open", {}).items():
        bucket = {k: v for k, v in meta.items() if k != "nids"}
        if "ids" in meta:  # written by an older version: ids inline (a list or a dict)
            bucket["ids"] = dict.fromkeys(meta["ids"], 1)
            bucket["saved"] = 0
        else:
            ids: dict[str, int] = {}
            for k in range(_chunks(int(meta.get("nids", 0)))):
                ids.update(dict.fromkeys(get(chunk_key(topic, b, k)) or (), 1))
            bucket["ids"] = ids
            bucket["saved"] = len(ids)
        state["open"][b] = bucket
    return state
