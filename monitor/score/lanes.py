"""The media lane's admission control (pure; the clock is passed in).

Text-only posts never enter it: they are scored at once on the text lane. A post with images or audio is offered
to the media lane, which holds at most `capacity` posts and `max_bytes` of raw records (queued + being encoded;
one post is always admitted into an empty lane). When it is full, the post is
*shed*: scored at once on what is cheap (its text), marked `media_shed` with the reason, never dropped. A post
that waited longer than `max_wait_s` in the queue is shed the same way when it is taken. So a media post is scored
at most about `max_wait_s` + one media batch after it was read, whatever the media load.

While posts are pending here they hold the worker's event-time watermark back (`oldest_event_ms`), so a media
post scored late still lands in its window (the hold is bounded by `max_wait_s`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

SHED_FULL = "media_lane_full"
SHED_TIMEOUT = "media_lane_timeout"
SHED_FETCH = "media_fetch_failed"  # a remote media link could not be fetched (404, timeout, 429): scored on text


@dataclass
class LaneItem:
    event_ms: int
    enqueued: float
    payload: Any
    nbytes: int = 0  # size of the raw record (inline media): the lane's byte budget


class MediaLane:
    def __init__(self, capacity: int = 32, max_wait_s: float = 10.0, max_bytes: int = 0) -> None:
        self.capacity = capacity
        self.max_wait_s = max_wait_s
        self.max_bytes = max_bytes  # 0: no byte budget
        self.queue: deque[LaneItem] = deque()
        self.busy: list[LaneItem] = []

    def __len__(self) -> int:
        return len(self.queue) + len(self.busy)

    def offer(self, item: LaneItem) -> bool:
        """Admit the item (True) or refuse it because the lane is full (False: shed it, SHED_FULL)."""
        if len(self) >= self.capacity:
            return False
        if self.max_bytes and len(self) and self.nbytes() + item.nbytes > self.max_bytes:
            return False  # a byte budget, not only a count: a few huge media must not hold gigabytes (#31)
        self.queue.append(item)
        return True

    def nbytes(self) -> int:
        return sum(i.nbytes for i in self.queue) + sum(i.nbytes for i in self.busy)

    def take(self, max_n: int, now: float) -> tuple[list[LaneItem], list[LaneItem]]:
        """Up to max_n items to encode (now busy), and the items that waited too long (to shed, SHED_TIMEOUT)."""
        expired: list[LaneItem] = []
        while self.queue and now - self.queue[0].enqueued > self.max_wait_s:
            expired.append(self.queue.popleft())
        batch = [self.queue.popleft() for _ in range(min(max_n, len(self.queue)))]
        self.busy.extend(batch)
        return batch, expired

    def done(self, items: list[LaneItem]) -> None:
        ids = {id(i) for i in items}
        self.busy = [b for b in self.busy if id(b) not in ids]

    def oldest_event_ms(self) -> int | None:
        """The earliest event time still pending (queued or being encoded), or None."""
        times = [i.event_ms for i in self.queue] + [i.event_ms for i in self.busy]
        return min(times) if times else None

    def oldest_wait_s(self, now: float) -> float:
        times = [i.enqueued for i in self.queue] + [i.enqueued for i in self.busy]
        return max(0.0, now - min(times)) if times else 0.0
