"""Pure pieces shared by the connectors: filters, HTML to text, the post dict, media policy, backoff, checkpoints."""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from monitor.ingest.route import CASHTAG  # one cashtag rule for connectors and routing ($BRK.B, $BRK-A)
from monitor.media.fetch import uri_allowed
from monitor.retry import full_jitter


@dataclass(frozen=True)
class Filter:
    """Which posts a connector keeps. Empty filter: everything. Otherwise a post is kept when its text contains a
    keyword (case-insensitive, whole word), one of the cashtags, or its author is one of the accounts."""

    keywords: tuple[str, ...] = ()
    cashtags: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    _kw: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.keywords:
            words = "|".join(re.escape(k.lower()) for k in self.keywords if k.strip())
            object.__setattr__(self, "_kw", re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.I) if words else None)

    @property
    def empty(self) -> bool:
        return not (self.keywords or self.cashtags or self.accounts)

    def keep(self, text: str, author: str | None) -> bool:
        if self.empty:
            return True
        if author and author.lower().lstrip("@") in {a.lower().lstrip("@") for a in self.accounts}:
            return True
        if self.cashtags and {c.upper() for c in CASHTAG.findall(text)} & {c.upper().lstrip("$") for c in self.cashtags}:
            return True
        return bool(self._kw and self._kw.search(text))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p", "div", "li"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment (Mastodon `content`, RSS summaries); tags dropped, entities decoded."""
    p = _Text()
    p.feed(markup or "")
    p.close()
    text = html.unescape("".join(p.parts))
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", text)).strip()


@dataclass(frozen=True)
class MediaPolicy:
    """Media go into a post by `uri` only where the worker will fetch them (allow_remote_media and the host on the
    allowlist: the same rule the worker applies); otherwise the post keeps its text and the uri goes to `meta`
    (a post is never dead-lettered because of an image the worker may not fetch)."""

    allow_remote: bool = False
    allowlist: tuple[str, ...] = ()

    def split(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        keep, skipped = [], []
        for m in items:
            if self.allow_remote and uri_allowed(m["uri"], self.allowlist):
                keep.append(m)
            else:
                skipped.append(m["uri"])
        return keep, skipped


def make_post(pid: str, created_at: str | int, source: str, text: str, author: str | None = None,
              lang: str | None = None, media: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None,
              policy: MediaPolicy | None = None, max_text: int = 20_000) -> dict[str, Any]:
    """The posts.raw value (monitor.types.Post). Media: [{kind, uri, mime?, alt?}]; alt texts are appended to the
    text (they carry meaning the encoders would otherwise miss), media the worker may not fetch go to meta."""
    media = media or []
    alts = [m["alt"].strip() for m in media if m.get("alt") and m["alt"].strip()]
    if alts:
        text = (text + "\n" + "\n".join(f"[image: {a}]" for a in alts)).strip()
    keep, skipped = (policy or MediaPolicy()).split(media)
    post: dict[str, Any] = {"id": pid, "created_at": created_at, "source": source, "text": text[:max_text]}
    if author:
        post["author"] = author
    if lang:
        post["lang"] = lang
    if keep:
        post["media"] = [{k: v for k, v in m.items() if k in ("kind", "uri", "mime")} for m in keep]
    meta = dict(meta or {})
    if skipped:
        meta["media_uris"] = skipped
    if meta:
        post["meta"] = meta
    return post


@dataclass
class Backoff:
    """Reconnect delays: exponential from `base_s` to `max_s`, full jitter (uniform(0, cap), the one formula in
    `monitor.retry`, shared with webhook delivery); `reset()` after a healthy session."""

    base_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next(self) -> float:
        delay = full_jitter(self.attempt, self.base_s, self.max_s, self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Checkpoint:
    """A connector's resume point (cursor, last id, ETag ...): a small JSON file replaced atomically (write to a
    temp file in the same folder, fsync, rename), written only after the posts before it were acknowledged by the
    broker. Lost on nothing but the disk. From a coroutine use `save_async` (the fsync runs in a worker thread, not
    on the event loop)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    async def save_async(self, state: dict[str, Any]) -> None:
        """`save` in a worker thread: the fsync never stalls the event loop. `state` is copied first (JSON round
        trip), so the caller may keep changing its own dicts while the write runs."""
        snapshot = json.loads(json.dumps(state))
        await asyncio.to_thread(self.save, snapshot)
