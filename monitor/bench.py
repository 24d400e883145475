"""`monitor bench`: end-to-end posts/s and produce->scored latency through a real broker, and in the same run
the scorer's raw throughput on the same posts without Kafka. The ratio (end-to-end / raw) is the figure of merit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Settings
from monitor.ingest.decode import decode_post
from monitor.kafka_io import produce_raw, read_all
from monitor.synth.stream import StreamSpec, generate

# (image share, audio share). multimodal: 70 % text, 20 % image, 10 % audio. overload: 20 % image posts, all
# produced at once, far faster than the media lane's capacity (~1 image/s of OCR per core): measures shedding.
MIXES = {"text": (0.0, 0.0), "multimodal": (0.2, 0.1), "overload": (0.2, 0.0)}
OVERLOAD_RATE = 100.0  # posts/s of --mix overload unless --rate: 20 image posts/s, above a CPU worker's ~9-14/s


def bench_posts(n: int, seed: int = 11, mix: str = "text") -> list[tuple[str, bytes]]:
    image_share, audio_share = MIXES[mix]
    spec = StreamSpec(seed=seed, invalid_share=0.0, image_share=image_share, audio_share=audio_share,
                      rate_per_event_s=200.0, start_ms=int(time.time() * 1000) - n * 5)
    return [(it["key"], it["value"]) for it in generate(spec, n)]


def raw_scorer_throughput(settings: Settings, values: list[bytes]) -> dict[str, Any]:
    from monitor.score.factory import build_scorer

    scorer = build_scorer(settings)
    posts = [decode_post(v, settings.limits) for v in values]
    scorer.score(posts[: settings.batch_size])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(posts), settings.batch_size):
        scorer.score(posts[i:i + settings.batch_size])
    dt = time.perf_counter() - t0
    return {"model": scorer.version, "posts": len(posts), "seconds": round(dt, 3), "posts_per_s": round(len(posts) / dt, 1)}


def raw_text_throughput(settings: Settings, values: list[bytes]) -> dict[str, Any]:
    """Texts/s of the text model alone on the posts' own texts: the backend in use (`text_per_s`, `text_backend`)
    and, in the same run, the fp32 torch model (`text_torch_fp32_per_s`) when the fine-tuned model is in use."""
    from monitor.score.factory import build_scorer

    texts = [p.text for p in (decode_post(v, settings.limits) for v in values) if getattr(p, "text", None)]
    if not texts:
        return {"text_per_s": 0.0}

    def speed(predict: Any) -> float:
        predict(texts[: settings.batch_size])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(texts), settings.batch_size):
            predict(texts[i:i + settings.batch_size])
        return round(len(texts) / (time.perf_counter() - t0), 1)

    scorer = build_scorer(settings)
    text = getattr(scorer, "text", scorer)
    out: dict[str, Any] = {"text_per_s": speed(text.predict_proba)}
    if text.name == "minilm":
        from monitor.score.text_model import (
            DEFAULT_ARTEFACT,
            INT8_BACKEND,
            TextSentimentModel,
            resolve_device,
        )

        art = settings.text_model_dir or DEFAULT_ARTEFACT
        out["text_backend"] = ("torch-fp16" if resolve_device(settings.device).type == "cuda" else
                               INT8_BACKEND if settings.text_backend in ("auto", "int8") else "torch-fp32")
        fp32 = TextSentimentModel(art, device=settings.device, batch_size=settings.batch_size, backend="torch")
        out["text_torch_fp32_per_s"] = speed(fp32.predict_proba)
        out["text_speedup_vs_torch_fp32"] = round(out["text_per_s"] / out["text_torch_fp32_per_s"], 2)
    else:
        out["text_backend"] = text.name
    return out


def scratch_run(args: argparse.Namespace, settings: Settings, prefix: str
                ) -> tuple[Settings, dict[str, str], EmbeddedBroker | None]:
    """Embedded broker unless a cluster was named; fresh topics and group; env for a worker subprocess."""
    from monitor.harness import create_run_topics, scratch_settings, worker_env

    broker = None
    if not args.bootstrap_servers and not os.environ.get("MONITOR_BOOTSTRAP_SERVERS"):
        broker = EmbeddedBroker().start()
        settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap})
    s = scratch_settings(settings, prefix)
    create_run_topics(s)
    return s, worker_env(s), broker


def paced(items: list[tuple[str, bytes]], rate: float) -> Iterator[tuple[str, bytes]]:
    """Yield the items at `rate` per second (a live stream, not a backlog)."""
    t0 = time.monotonic()
    for i, it in enumerate(items):
        ahead = t0 + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        yield it


def overload_stats(s: Settings, items: list[tuple[str, bytes]], scored: list[dict[str, Any]],
                   raw_ts: dict[str, int]) -> dict[str, Any]:
    """Text-lane latency (posts without media), media posts enriched vs shed (by reason), posts lost."""
    has_media = {k for k, v in items if getattr(decode_post(v, s.limits), "media", None)}
    first: dict[str, dict[str, Any]] = {}
    for r in scored:
        first.setdefault(r["value"]["id"], r)
    text_lat = np.array([(r["timestamp"] - raw_ts[k]) / 1000 for k, r in first.items()
                         if k not in has_media and k in raw_ts])
    media = [r["value"] for k, r in first.items() if k in has_media]
    reasons: dict[str, int] = {}
    for v in media:
        if v.get("media_shed"):
            reasons[v.get("shed_reason") or "?"] = reasons.get(v.get("shed_reason") or "?", 0) + 1
    return {"text_posts": len(items) - len(has_media), "media_posts": len(has_media),
            "text_latency_p50_s": round(float(np.percentile(text_lat, 50)), 3) if len(text_lat) else None,
            "text_latency_p99_s": round(float(np.percentile(text_lat, 99)), 3) if len(text_lat) else None,
            "media_enriched": sum(1 for v in media if not v.get("media_shed")),
            "media_shed": sum(reasons.values()), "media_shed_by_reason": reasons}


def _scraped(port: int, *prefixes: str) -> float:
    """Sum of the worker's /metrics samples whose line starts with one of `prefixes` (0 while it does not answer)."""
    import urllib.request

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()  # noqa: S310
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefixes))


def _scraped_total(port: int) -> float:
    """Posts scored + dead-lettered so far by one worker."""
    return _scraped(port, "monitor_posts_scored_total{", "monitor_posts_dead_lettered_total{")


def _warm_up(s: Settings, ports: list[int]) -> None:
    """One post through and every worker holding partitions, so group join and model load are not measured."""
    produce_raw(s.bootstrap_servers, s.topic_raw, bench_posts(1, seed=1))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not read_all(s.bootstrap_servers, s.topic_scored, timeout_s=2):
        time.sleep(0.5)
    while time.monotonic() < deadline and not all(
            _scraped(p, "monitor_assigned_partitions ") >= 1 for p in ports[: s.partitions]):
        time.sleep(0.5)


def _wait_scored(s: Settings, ports: list[int], want: set[str], base: float
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scored records of the posts in `want` and the dead-letter records, once every post is one or the other (or
    after 600 s)."""
    scored: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    dlq: list[dict[str, Any]] = []
    # wait on the worker's own counters (cheap) so the bench does not compete with the worker for the CPU by
    # re-reading the output topic; the topic read below is the measurement
    # (every 0.5 s: a scrape costs the worker a few ms; the end time comes from the broker's timestamps)
    while time.monotonic() < deadline and sum(_scraped_total(p) for p in ports) < base + len(want):
        time.sleep(0.5)
    while time.monotonic() < deadline:
        scored = [r for r in read_all(s.bootstrap_servers, s.topic_scored, timeout_s=30)
                  if r["value"]["id"] in want]
        dlq = read_all(s.bootstrap_servers, s.topic_dlq, timeout_s=30)
        got = len({r["value"]["id"] for r in scored})
        if got + len(dlq) >= len(want):
            break
        missing = sorted(want - {r["value"]["id"] for r in scored})[:3]
        print(f"bench: waiting, {got} scored + {len(dlq)} dead-lettered of {len(want)} "
              f"(worker counters {sum(_scraped_total(p) for p in ports) - base:.0f}; missing e.g. {missing})",
              file=sys.stderr)
        time.sleep(1.0)
    return scored, dlq


def _end_to_end_stats(s: Settings, want: set[str], scored: list[dict[str, Any]], dlq: list[dict[str, Any]],
                      t0: float, t_produced: float) -> tuple[dict[str, Any], dict[str, int]]:
    """Throughput and produce->scored latency from the broker's timestamps; also the raw records' timestamps."""
    raw = {r["key"]: r["timestamp"] for r in read_all(s.bootstrap_servers, s.topic_raw, timeout_s=30)}
    first = {}
    for r in scored:
        first.setdefault(r["value"]["id"], r["timestamp"])
    lat = np.array([(first[k] - raw[k]) / 1000 for k in first if k in raw])
    t_end = max(first.values()) / 1000 if first else time.time()
    dlq_ids = {r["value"].get("post_id") for r in dlq if isinstance(r["value"], dict)}
    e2e = {"posts": len(first), "dead_lettered": len(dlq), "lost": len(want - set(first) - dlq_ids),
           "seconds": round(t_end - t0, 3),
           "posts_per_s": round(len(first) / max(1e-9, t_end - t0), 1),
           "produce_seconds": round(t_produced - t0, 3),
           "latency_p50_s": round(float(np.percentile(lat, 50)), 4) if len(lat) else None,
           "latency_p99_s": round(float(np.percentile(lat, 99)), 4) if len(lat) else None}
    return e2e, raw


def _measure_end_to_end(args: argparse.Namespace, s: Settings, ports: list[int]
                        ) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """Produce the bench posts to the running workers and measure them through; returns the stats and the posts."""
    _warm_up(s, ports)
    items = bench_posts(args.posts, mix=args.mix)
    base = sum(_scraped_total(p) for p in ports)
    hits0 = sum(_scraped(p, 'monitor_text_cache_requests_total{result="hit"}') for p in ports)
    t0 = time.time()
    rate = args.rate or OVERLOAD_RATE
    produce_raw(s.bootstrap_servers, s.topic_raw, paced(items, rate) if args.mix == "overload" else items)
    t_produced = time.time()
    want = {k for k, _ in items}
    scored, dlq = _wait_scored(s, ports, want, base)
    e2e, raw = _end_to_end_stats(s, want, scored, dlq, t0, t_produced)
    # the duplicate-text cache answers repeated texts (retweets) that the raw scorer below scores again: a
    # ratio above 1 comes from it
    e2e["text_cache_hits"] = int(sum(_scraped(p, 'monitor_text_cache_requests_total{result="hit"}')
                                     for p in ports) - hits0)
    if args.mix == "overload":
        e2e |= overload_stats(s, items, scored, raw) | {"rate_per_s": rate}
    return e2e, items


def _raw_speeds(args: argparse.Namespace, s: Settings, items: list[tuple[str, bytes]]
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw scorer's and the encoders' throughput on the same posts, without Kafka."""
    if args.mix == "overload":  # the media encoders' raw speed is what is overloaded: not re-measured here
        raw_stats = raw_scorer_throughput(s, [v for _, v in items if not decode_post(v, s.limits).media])
    else:
        raw_stats = raw_scorer_throughput(s, [v for _, v in items])
    encoders: dict[str, Any] = raw_text_throughput(s, [v for _, v in items])
    if args.mix != "text":
        from monitor.media.bench import bench_media

        encoders |= bench_media(n_images=8, n_clips=4)
    return raw_stats, encoders


def _print_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
        return
    e2e, raw_stats, encoders = result["end_to_end"], result["raw_scorer"], result["encoders"]
    print(f"end-to-end: {e2e['posts']} posts in {e2e['seconds']} s = {e2e['posts_per_s']} posts/s, "
          f"latency p50 {e2e['latency_p50_s']} s, p99 {e2e['latency_p99_s']} s")
    print(f"raw scorer ({raw_stats['model']}): {raw_stats['posts_per_s']} posts/s")
    print("encoders: " + ", ".join(f"{k} {v}" for k, v in encoders.items()))
    print(f"ratio end-to-end / raw: {result['ratio']}")


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    s, _env, broker = scratch_run(args, settings, "bench")
    n_workers = max(1, getattr(args, "workers", 1))
    ports = [s.metrics_port] + [free_port() for _ in range(n_workers - 1)]
    from monitor.harness import WorkerProcess

    log = os.environ.get("MONITOR_BENCH_WORKER_LOG")
    workers = [WorkerProcess(s, Path(log) if log else None, metrics_port=port) for port in ports]
    try:
        e2e, items = _measure_end_to_end(args, s, ports)
    finally:
        for worker in workers:
            worker.proc.send_signal(signal.SIGTERM)  # all at once, then wait for each
        for worker in workers:
            worker.stop()
    raw_stats, encoders = _raw_speeds(args, s, items)
    result = {"mix": args.mix, "device": s.device or "auto", "end_to_end": e2e, "raw_scorer": raw_stats,
              "encoders": encoders,
              # a paced (overload) run measures freshness, not capacity: no ratio
              "ratio": round(e2e["posts_per_s"] / raw_stats["posts_per_s"], 3)
              if raw_stats["posts_per_s"] and args.mix != "overload" else None,
              "bench_process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "partitions": s.partitions, "workers": n_workers, "batch_size": s.batch_size, "broker": "embedded tansu" if broker else
              s.bootstrap_servers, "cpu_count": os.cpu_count()}
    if broker:
        broker.stop()
    _print_result(args, result)
    return 0
