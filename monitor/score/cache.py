"""Duplicate text is scored once: a bounded LRU of normalised text -> probabilities (pure, not thread-safe:
used from the event loop only).

Retweets and reposts repeat a text verbatim ("RT @user: ..." prefixes, case, whitespace and trailing URLs aside),
so the key is the text lower-cased, with an "RT @user:" prefix and URLs removed and whitespace collapsed. Bounded
both by entries and by the bytes of the keys held; the least recently used entries go first (cachetools).
"""

from __future__ import annotations

import re

from cachetools import LRUCache

_RT = re.compile(r"^\s*rt\s+@\w+:?\s*", re.IGNORECASE)
_URL = re.compile(r"https?://\S+")
_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    t = _RT.sub("", text)
    t = _URL.sub(" ", t)
    return _WS.sub(" ", t).strip().lower()


class TextCache:
    """cachetools' LRUCache sized in key bytes (`max_bytes`), plus an entry cap (`max_entries`)."""

    def __init__(self, max_entries: int = 50_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # value = (probs, key bytes): the cache's size is the bytes of the keys it holds
        self._d: LRUCache[str, tuple[tuple[float, float, float], int]] = LRUCache(
            maxsize=max(1, max_bytes), getsizeof=lambda v: v[1])
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._d)

    @property
    def bytes(self) -> int:
        return int(self._d.currsize)

    def get(self, text: str) -> tuple[float, float, float] | None:
        if self.max_entries <= 0:
            return None
        hit = self._d.get(normalise_text(text))  # a hit becomes the most recently used
        if hit is None:
            self.misses += 1
            return None
        self.hits += 1
        return hit[0]

    def put(self, text: str, probs: tuple[float, float, float]) -> None:
        if self.max_entries <= 0:
            return
        key = normalise_text(text)
        size = len(key.encode())
        if size > self.max_bytes:
            return
        if key not in self._d:
            while len(self._d) >= self.max_entries:
                self._d.popitem()  # the least recently used
        self._d[key] = (probs, size)

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
