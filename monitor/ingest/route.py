"""Which monitored topics a post belongs to: explicit topics, cashtags, hashtags, keyword rules. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)(?![\w])")
HASHTAG = re.compile(r"(?<![\w#])#(\w{2,64})", re.UNICODE)


def normalise(topic: str) -> str:
    return topic.strip().lstrip("$#").strip()


class Router:
    """Compiled keyword rules: topic -> list of keywords (case-insensitive, word-bounded) or `re:` regexes."""

    def __init__(self, keywords: Mapping[str, Iterable[str]] | None = None, catch_all: str = "_all",
                 hashtags: bool = True) -> None:
        self.catch_all = catch_all
        self.hashtags = hashtags
        self.rules: list[tuple[str, re.Pattern[str]]] = []
        for topic, words in (keywords or {}).items():
            for w in words:
                if w.startswith("re:"):
                    pat = re.compile(w[3:], re.IGNORECASE)
                else:
                    pat = re.compile(r"(?<!\w)" + re.escape(w) + r"(?!\w)", re.IGNORECASE)
                self.rules.append((topic, pat))

    def topics(self, text: str | None, explicit: Iterable[str] = ()) -> list[str]:
        """Ordered, de-duplicated topics; [catch_all] when none matched."""
        found: list[str] = []

        def add(t: str) -> None:
            t = normalise(t)
            if t and t not in found:
                found.append(t)

        for t in explicit:
            add(t)
        if text:
            for m in CASHTAG.finditer(text):
                add(m.group(1).upper())
            if self.hashtags:
                for m in HASHTAG.finditer(text):
                    add(m.group(1).lower())
            for topic, pat in self.rules:
                if pat.search(text):
                    add(topic)
        return found or [self.catch_all]
