"""Which monitored topics a post belongs to: explicit topics, cashtags, hashtags, keyword rules. Pure.

Hashtags, cashtags and a post's own explicit topics are unbounded on a real stream (a two-year finance sample held
~7,000 distinct cashtags; every typo is a new hashtag), and each topic is window and detector state, so each kind is
budgeted (#30.7): at most `max_hashtags` / `max_cashtags` / `max_explicit` of them are topics at a time, chosen by
recent volume (`TopicBudget`); the others are counted under their kind's catch-all topic (`_hashtags`, `_cashtags`,
`_topics`) and in `monitor_topics_folded_total{kind}`. Pinned topics (configured keyword topics, topic overrides,
`monitored_topics`) are never folded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

# a share class or exchange suffix belongs to the ticker: $BRK.B, $BRK-A, $RDS-B (not a trailing dash or dot)
CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[.\-][A-Za-z]{1,2})?)(?![\w]|-\w)")
HASHTAG = re.compile(r"(?<![\w#])#(\w{2,64})", re.UNICODE)


def normalise(topic: str) -> str:
    return topic.strip().lstrip("$#").strip()


FOLDED_HASHTAGS = "_hashtags"
FOLDED_CASHTAGS = "_cashtags"
FOLDED_TOPICS = "_topics"


class TopicBudget:
    """Top-N hashtags by recent volume (space-saving counts over 8N slots, halved every `decay_every` looks).

    The first N hashtags are admitted as they come; after that the admitted set changes only when it is recomputed,
    every `decay_every` observations, as the N with the highest counts: a new hashtag with volume displaces a quiet
    one, and a stream of one-off hashtags cannot churn topics (each new topic is window state).
    """

    def __init__(self, n: int, decay_every: int = 2048) -> None:
        self.n = n
        self.capacity = max(8 * n, 64)
        self.decay_every = decay_every
        self.counts: dict[str, float] = {}
        self.admitted: set[str] = set()
        self.filled = False
        self.seen = 0

    def admit(self, tag: str) -> bool:
        self.seen += 1
        if tag in self.counts:
            self.counts[tag] += 1
        elif len(self.counts) < self.capacity:
            self.counts[tag] = 1
        else:  # space-saving: the new tag takes the slot of the smallest count
            low = min(self.counts, key=self.counts.__getitem__)
            self.counts[tag] = self.counts.pop(low) + 1
            self.admitted.discard(low)
        if self.seen % self.decay_every == 0:
            top = sorted(self.counts, key=self.counts.__getitem__, reverse=True)[: self.n]
            self.admitted = set(top)
            self.counts = {k: v / 2 for k, v in self.counts.items()}
        if tag not in self.admitted and len(self.admitted) < self.n and not self.filled:
            self.admitted.add(tag)  # the first N tags get in at once; after that only the recount changes the set
            self.filled = len(self.admitted) >= self.n
        return tag in self.admitted


HashtagBudget = TopicBudget  # the name before cashtags and explicit topics were budgeted too


class Router:
    """Compiled keyword rules: topic -> list of keywords (case-insensitive, word-bounded) or `re:` regexes."""

    def __init__(self, keywords: Mapping[str, Iterable[str]] | None = None, catch_all: str = "_all",
                 hashtags: bool = True, max_hashtags: int = 0, on_fold: Callable[[str], None] | None = None,
                 max_cashtags: int = 0, max_explicit: int = 0, pinned: Iterable[str] = ()) -> None:
        self.catch_all = catch_all
        self.hashtags = hashtags
        self.budget = TopicBudget(max_hashtags) if max_hashtags > 0 else None
        self.budgets = {"cashtag": TopicBudget(max_cashtags) if max_cashtags > 0 else None,
                        "explicit": TopicBudget(max_explicit) if max_explicit > 0 else None}
        self.pinned = {normalise(t) for t in [*pinned, *(keywords or {})]} | {catch_all}
        self.on_fold = on_fold
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
            add(self._admit("explicit", normalise(t), FOLDED_TOPICS))
        if text:
            for m in CASHTAG.finditer(text):
                add(self._admit("cashtag", m.group(1).upper(), FOLDED_CASHTAGS))
            if self.hashtags:
                for m in HASHTAG.finditer(text):
                    tag = m.group(1).lower()
                    if self.budget is None or tag in self.pinned or self.budget.admit(tag):
                        add(tag)
                    else:
                        add(FOLDED_HASHTAGS)
                        if self.on_fold:
                            self.on_fold("hashtag")
            for topic, pat in self.rules:
                if pat.search(text):
                    add(topic)
        return found or [self.catch_all]

    def _admit(self, kind: str, topic: str, folded: str) -> str:
        budget = self.budgets[kind]
        if budget is None or not topic or topic in self.pinned or budget.admit(topic):
            return topic
        if self.on_fold:
            self.on_fold(kind)
        return folded
