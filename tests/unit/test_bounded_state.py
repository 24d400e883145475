"""#30.7: per-topic state stays bounded — idle detector rows are forgotten (pure adapter over a dict table)."""

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.aggregate.windows import empty_counts, window_stat
from monitor.config import Settings
from monitor.detect.stage import EVICT_EVERY, DetectStage
from monitor.metrics import Metrics

DAY = 86_400_000


class _Outbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_confirmed(self, records: list[tuple[str, bytes | None, Any]]) -> None:
        self.sent.extend(records)


def _window(topic: str, start: int) -> dict[str, Any]:
    c = {**empty_counts(), "n": 10, "neu": 10}
    return window_stat(topic, "tumbling", start, start + 60_000, c, start + 60_000)


def test_idle_detector_state_is_forgotten_per_partition_and_never_while_firing():
    s = Settings.load(None, env={})
    table: dict[str, Any] = {}
    stage = DetectStage(s, Metrics(CollectorRegistry()), _Outbox(), table)

    async def run() -> None:
        for i in range(300):  # one-off topics seen once, on partitions 0 and 1
            await stage.on_window(_window(f"ONE{i}", 0), partition=i % 2)
        table["ONE0"]["rate_signal"]["life"]["firing"] = True  # an open incident is kept
        start = 31 * DAY
        while stage.seen % EVICT_EVERY:
            await stage.on_window(_window("LIVE", start), partition=0)
            start += 60_000

    asyncio.run(run())
    left = set(table)
    assert "LIVE" in left and "ONE0" in left
    assert not any(t.startswith("ONE") and int(t[3:]) % 2 == 0 for t in left - {"ONE0"})  # partition 0: forgotten
    assert sum(1 for t in left if t.startswith("ONE") and int(t[3:]) % 2 == 1) == 150  # partition 1: not its sweep
