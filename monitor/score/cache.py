"""Duplicate text is scored once: a bounded LRU of normalised text -> probabilities (pure, not thread-safe:
used from the event loop only).

Retweets and reposts repeat a text verbatim ("RT @user: ..." prefixes, case, whitespace and trailing URLs aside),
so the key is the text lower-cased, with an "RT @user:" prefix and URLs removed and whitespace collapsed. Bounded
both by entries and by the bytes of the keys held; the least recently used entries go first.
"""

from __future__ import annotations

import re
from collections import OrderedDict

_RT = re.compile(r"^\s*rt\s+@\w+:?\s*", re.IGNORECASE)
_URL = re.compile(r"https?://\S+")
_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    t = _RT.sub("", text)
    t = _URL.sub(" ", t)
    return _WS.sub(" ", t).strip().lower()


class TextCache:
    def __init__(self, max_entries: int = 50_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._d: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._d)

    def get(self, text: str) -> tuple[float, float, float] | None:
        if self.max_entries <= 0:
            return None
        key = normalise_text(text)
        probs = self._d.get(key)
        if probs is None:
            self.misses += 1
            return None
        self._d.move_to_end(key)
        self.hits += 1
        return probs

    def put(self, text: str, probs: tuple[float, float, float]) -> None:
        if self.max_entries <= 0:
            return
        key = normalise_text(text)
        size = len(key.encode())
        if size > self.max_bytes:
            return
        if key in self._d:
            self._d.move_to_end(key)
            self._d[key] = probs
            return
        self._d[key] = probs
        self.bytes += size
        while len(self._d) > self.max_entries or self.bytes > self.max_bytes:
            old, _ = self._d.popitem(last=False)
            self.bytes -= len(old.encode())

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
