"""`monitor bench --soak SECONDS`: `monitor up`'s stack (`up.start_stack`: broker, topics, supervised worker) with
the synthetic source at a steady rate (real time, the demo's three spikes spread over the run), sampled every
`--sample-s` seconds: worker and broker RSS and CPU, the worker's open file descriptors, the consumer lag on the raw
topic, the recent produce->scored latency; the report gives the growth and its trend from minute 10."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config import Settings


def proc_rss_mb(pid: int) -> float | None:
    """RSS of a process in MB; None when it is gone (a worker between a crash and its restart)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def raw_lag(s: Settings) -> int:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=s.app_id, enable_auto_commit=False,
                      client_id=f"soak-lag-{uuid.uuid4().hex[:4]}")
    try:
        tps = [TopicPartition(s.topic_raw, p) for p in range(s.partitions)]
        end = c.end_offsets(tps)
        return int(sum(end[tp] - (c.committed(tp) or 0) for tp in tps))
    finally:
        c.close()


def worker_freshness(port: int) -> dict[str, float | None]:
    """Lane lag in seconds, media posts seen and shed, from the worker's /metrics."""
    import urllib.request

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()  # noqa: S310
    except OSError:
        return {}
    out: dict[str, float | None] = {"media_shed": 0.0}
    for line in body.splitlines():
        if line.startswith('monitor_lane_lag_seconds{lane="text"}'):
            out["text_lane_lag_s"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith('monitor_lane_lag_seconds{lane="media"}'):
            out["media_lane_lag_s"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("monitor_media_shed_total{"):
            out["media_shed"] = (out["media_shed"] or 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith('monitor_scorer_seconds_count{modality="image"}'):
            out["image_batches"] = float(line.rsplit(" ", 1)[1])
    return out


def _cpu(worker_pid: int, broker_pid: int | None, last: list[float]) -> dict[str, float | None]:
    """CPU use (% of one core) of the worker and the embedded broker since the previous sample, and the broker's RSS:
    tells a slower worker from a slower broker (Tansu's memory storage keeps every record)."""
    now, w, b = time.monotonic(), proc_cpu_s(worker_pid), proc_cpu_s(broker_pid) if broker_pid else 0.0
    dt = max(now - last[0], 1e-9)
    out: dict[str, float | None] = {"worker_cpu_pct": round(100 * (w - last[1]) / dt, 1) if w >= last[1] else None}
    if broker_pid:
        out |= {"broker_cpu_pct": round(100 * (b - last[2]) / dt, 1), "broker_rss_mb": proc_rss_mb(broker_pid)}
    last[:3] = [now, w, b]
    return out


SOAK_RATE = 30.0  # posts/s unless --rate


class _Latencies:
    """Reads the scored topic's produce->scored latencies in a background thread."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.watch, daemon=True).start()

    def watch(self) -> None:
        from kafka import KafkaConsumer

        s = self.s
        c = KafkaConsumer(s.topic_scored, bootstrap_servers=s.bootstrap_servers, group_id=None,
                          auto_offset_reset="earliest", client_id=f"soak-lat-{s.app_id}")
        while not self.stop.is_set():
            for msgs in c.poll(timeout_ms=500).values():
                with self.lock:
                    self.latencies.extend(json.loads(m.value)["latency_s"] for m in msgs)
        c.close()

    def take(self) -> np.ndarray:
        """The latest (at most 5000) latencies since the previous call."""
        with self.lock:
            lat = np.array(self.latencies[-5000:])
            self.latencies.clear()
        return lat


def raw_produced(s: Settings) -> int:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=s.bootstrap_servers, client_id=f"soak-end-{uuid.uuid4().hex[:4]}")
    try:
        return int(sum(c.end_offsets([TopicPartition(s.topic_raw, p) for p in range(s.partitions)]).values()))
    finally:
        c.close()


def _sample(lat_reader: _Latencies, s: Settings, metrics_port: int, worker_pid: int, broker_pid: int | None,
            cpu_last: list[float], t0: float) -> dict[str, Any]:
    lat = lat_reader.take()
    return {"t_s": round(time.monotonic() - t0, 1), "produced": raw_produced(s),
            "worker_rss_mb": proc_rss_mb(worker_pid), "worker_open_fds": proc_fds(worker_pid),
            "raw_lag": raw_lag(s), **_cpu(worker_pid, broker_pid, cpu_last),
            "latency_p50_s": round(float(np.percentile(lat, 50)), 3) if len(lat) else None,
            "latency_p99_s": round(float(np.percentile(lat, 99)), 3) if len(lat) else None,
            **worker_freshness(metrics_port)}


def _soak_result(args: argparse.Namespace, samples: list[dict[str, Any]]) -> dict[str, Any]:
    from monitor.synth.stream import CPU_AUDIO_SHARE, CPU_IMAGE_SHARE

    first, last = samples[0], samples[-1]
    # from minute 5 on (model loading, caches and allocator arenas fill the first minutes)
    base = next((x for x in samples if x["t_s"] >= 300), first)
    shed = last.get("media_shed", 0.0)
    return {"seconds": args.soak, "rate_per_s": args.rate,
            "image_share": CPU_IMAGE_SHARE if args.image_share is None else args.image_share,
            "audio_share": CPU_AUDIO_SHARE if args.audio_share is None else args.audio_share,
            **rss_growth([x for x in samples if x.get("worker_rss_mb") is not None]),
            "text_lane_lag_s_max_after_min5": max((x.get("text_lane_lag_s") or 0.0 for x in samples
                                                   if x["t_s"] >= base["t_s"]), default=None),
            "media_shed_total": shed,
            "image_batches": last.get("image_batches"),
            "worker_restarts": last.get("worker_restarts", 0),
            "worker_rss_from_min10": growth_from(samples, "worker_rss_mb"),
            "broker_rss_from_min10": growth_from(samples, "broker_rss_mb"),
            "samples": samples,
            "growth": {"worker_rss_mb": round((last["worker_rss_mb"] or 0.0) - (first["worker_rss_mb"] or 0.0), 1),
                       "worker_open_fds": (last["worker_open_fds"] or 0) - (first["worker_open_fds"] or 0),
                       "raw_lag": last["raw_lag"] - first["raw_lag"]}}


def run_soak(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.broker import free_port
    from monitor.harness import WORKER_ENV_FIELDS, scratch_settings
    from monitor.synth.source import SyntheticOptions, args_for
    from monitor.up import start_stack

    args.rate = args.rate or SOAK_RATE
    scratch = scratch_settings(settings, "soak")
    names = {k: getattr(scratch, k) for k in WORKER_ENV_FIELDS if k.startswith(("topic_", "app_id"))}
    port = free_port()
    logs = Path(getattr(args, "log_dir", None) or f".monitor-soak-{names['app_id']}")
    say = (lambda _line: None) if args.json else print
    stack = start_stack(say, logs, config=getattr(args, "config", None), bootstrap_servers=args.bootstrap_servers,
                        overrides=names, metrics_port=port, scorer=args.scorer)
    s = stack.settings
    opts = SyntheticOptions(rate=args.rate, speedup=1.0, seed=5, start_ms=int(time.time() * 1000),
                            spikes_over_s=args.soak)
    if args.image_share is not None:
        opts.image_share = args.image_share
    if args.audio_share is not None:
        opts.audio_share = args.audio_share
    worker = next(c for c in stack.sup.children if c.name == "worker")
    stack.add_source(1, args_for(opts))
    lat_reader = _Latencies(s)
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    broker_pid = stack.broker.proc.pid if stack.broker and stack.broker.proc else None
    assert worker.proc is not None
    cpu_last = [t0, proc_cpu_s(worker.proc.pid), proc_cpu_s(broker_pid) if broker_pid else 0.0, worker.proc.pid]
    try:
        while time.monotonic() - t0 < args.soak:
            deadline = time.monotonic() + min(args.sample_s, max(0.0, args.soak - (time.monotonic() - t0)))
            while time.monotonic() < deadline:
                stack.sup.tick(time.monotonic())
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if worker.proc.pid != cpu_last[3]:  # restarted: CPU seconds count from the new process
                cpu_last[1], cpu_last[3] = 0.0, worker.proc.pid
            sample = _sample(lat_reader, s, port, worker.proc.pid, broker_pid, cpu_last, t0)
            sample["worker_restarts"] = worker.restarts
            samples.append(sample)
            if not args.json:
                print(json.dumps(sample), flush=True)
    finally:
        lat_reader.stop.set()
        stack.stop()
    result = _soak_result(args, samples)
    if getattr(args, "plot", None):
        plot_soak(samples, args.plot)
    print(json.dumps(result) if args.json else json.dumps(result["growth"]))
    return 0


def rss_growth(samples: list[dict[str, Any]], from_s: float = 300.0, span_s: float = 300.0) -> dict[str, Any]:
    """Worker RSS growth from minute 5 on (model loading, caches and allocator arenas fill the first minutes).

    `rss_growth_pct_from_min5`: last sample vs the first sample at or after `from_s` (the issue's figure; noisy:
    RSS swings by up to ~1 GB with transient OCR/ASR batch buffers). `rss_growth_pct_median`: median of the last
    `span_s` of samples vs the median of the first `span_s` from `from_s` (robust to one swing).
    `rss_trend_mb_per_min`: least-squares slope from `from_s` on."""
    if not samples:
        return {"rss_growth_pct_from_min5": None, "rss_growth_pct_median": None, "rss_trend_mb_per_min": None}
    base = next((x for x in samples if x["t_s"] >= from_s), samples[0])
    after = [x for x in samples if x["t_s"] >= base["t_s"]]
    end = after[-1]["t_s"]
    early = [x["worker_rss_mb"] for x in after if x["t_s"] < base["t_s"] + span_s]
    late = [x["worker_rss_mb"] for x in after if x["t_s"] > end - span_s]
    t = np.array([x["t_s"] / 60 for x in after])
    rss = np.array([x["worker_rss_mb"] for x in after])
    trend = float(np.polyfit(t, rss, 1)[0]) if len(after) >= 2 and np.ptp(t) > 0 else None

    def pct(a: float, b: float) -> float:
        return round(100 * (a - b) / max(b, 1e-9), 2)

    return {"rss_growth_pct_from_min5": pct(end_rss := after[-1]["worker_rss_mb"], base["worker_rss_mb"]),
            "rss_growth_pct_median": pct(float(np.median(late)), float(np.median(early))),
            "rss_trend_mb_per_min": round(trend, 1) if trend is not None else None,
            "rss_last_mb": end_rss}


def growth_from(samples: list[dict[str, Any]], key: str, from_s: float = 600.0, span_s: float = 300.0
                ) -> dict[str, Any] | None:
    """Growth of one series (MB) from minute 10, judged three ways (#31: on the trend and on the peak, not on two
    samples): `trend_pct_per_hour` (least-squares slope over the samples from `from_s`, as % of their first
    `span_s` median per hour), `median_growth_pct` (median of the last `span_s` vs the first `span_s`) and
    `peak_growth_pct` (the highest sample vs that first median). None without samples of `key` after `from_s`."""
    after = [x for x in samples if x["t_s"] >= from_s and x.get(key) is not None]
    if len(after) < 2:
        return None
    t0, end = after[0]["t_s"], after[-1]["t_s"]
    base = float(np.median([x[key] for x in after if x["t_s"] < t0 + span_s]))
    late = float(np.median([x[key] for x in after if x["t_s"] > end - span_s]))
    t = np.array([x["t_s"] / 3600 for x in after])
    v = np.array([x[key] for x in after], dtype=float)
    slope = float(np.polyfit(t, v, 1)[0]) if np.ptp(t) > 0 else 0.0
    peak = float(v.max())

    def pct(x: float) -> float:
        return round(100 * x / max(base, 1e-9), 2)

    return {"first_median_mb": round(base, 1), "last_median_mb": round(late, 1), "peak_mb": round(peak, 1),
            "trend_mb_per_hour": round(slope, 1), "trend_pct_per_hour": pct(slope),
            "median_growth_pct": pct(late - base), "peak_growth_pct": pct(peak - base)}


def plot_soak(samples: list[dict[str, Any]], path: Path) -> None:
    """RSS, raw-topic lag and latency percentiles over the soak, one panel each (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [x["t_s"] / 60 for x in samples]
    fig, ax = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    ax[0].plot(t, [x["worker_rss_mb"] for x in samples], label="worker")
    if any(x.get("broker_rss_mb") for x in samples):
        ax[0].plot(t, [x.get("broker_rss_mb") for x in samples], label="broker (Tansu)")
        ax[0].legend()
    ax[0].set_ylabel("RSS (MB)")
    ax[1].plot(t, [x["raw_lag"] for x in samples])
    ax[1].set_ylabel("raw lag (messages)")
    for key in ("latency_p50_s", "latency_p99_s"):
        ax[2].plot(t, [x[key] for x in samples], label=key.split("_")[1])
    ax[2].set_ylabel("produce→scored (s)")
    ax[2].set_xlabel("minutes")
    ax[2].legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
