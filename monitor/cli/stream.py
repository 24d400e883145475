"""Streaming commands: worker, broker, topics, replay, demo, verify, bench (imported lazily by cli.py); `monitor
alerts` (whose test-webhook command is here), posts and windows are added by cli.inspect."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.config import Settings

SCORERS = ["auto", "text", "vader"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="YAML settings file (also MONITOR_CONFIG)")
    p.add_argument("--bootstrap-servers", default=None, help="Kafka bootstrap servers (also MONITOR_BOOTSTRAP_SERVERS)")


def settings_from(args: argparse.Namespace, **extra: object) -> Settings:
    over = {"bootstrap_servers": getattr(args, "bootstrap_servers", None), **extra}
    return Settings.load(getattr(args, "config", None), **over)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_run(sub)
    t = sub.add_parser("topics", help="topic administration")
    ts = t.add_subparsers(dest="what", required=True)
    tc = ts.add_parser("create", help="create the service's topics (idempotent)")
    _common(tc)
    tc.set_defaults(func=cmd_topics_create, needs_broker=True)

    v = sub.add_parser("verify", help="account for every produced post: scored, dead-lettered, lost, double-counted")
    _common(v)
    v.add_argument("--ids", type=Path, default=None,
                   help="file with one produced post id per line: report exactly these (default: every id found "
                        "on the raw topic, and the window checks)")
    v.add_argument("--json", action="store_true", help="one JSON object instead of the text report")
    v.set_defaults(func=cmd_verify, needs_broker=True)
    _add_bench(sub)


def _add_run(sub: argparse._SubParsersAction) -> None:
    """worker, broker, replay, demo."""
    w = sub.add_parser("worker", help="run a stream worker against a Kafka cluster")
    _common(w)
    w.add_argument("--metrics-port", type=int, default=None,
                   help="serve /metrics, /healthz, /readyz here (default: the settings' metrics_port)")
    w.add_argument("--scorer", choices=SCORERS, default=None, help="scorer (default: the settings' scorer)")
    w.add_argument("--loglevel", default="warning", help="log level of the worker (debug, info, warning, error)")
    w.set_defaults(func=cmd_worker)

    bk = sub.add_parser("broker", help="start the embedded Kafka-compatible broker alone (memory only) and create "
                                       "the topics; other commands connect with --bootstrap-servers")
    bk.add_argument("--host", default="127.0.0.1", help="listen address (the broker has no authentication)")
    bk.add_argument("--port", type=int, default=9092, help="listen port (0 = a free one)")
    bk.add_argument("--advertise", default=None, help="address clients are told to connect to (default: --host, "
                    "or this machine's name when --host is a wildcard such as 0.0.0.0)")
    bk.add_argument("--config", type=Path, default=None, help="YAML settings file: topic names, partitions "
                                                              "(also MONITOR_CONFIG)")
    bk.set_defaults(func=cmd_broker)

    r = sub.add_parser("replay", help="produce posts to the raw topic at a chosen rate")
    _common(r)
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", type=Path, help="JSONL file, one post per line")
    src.add_argument("--synthetic", type=int, metavar="N", help="generate N synthetic posts")
    r.add_argument("--rate", type=float, default=0.0, help="posts per second (0 = as fast as possible)")
    r.add_argument("--seed", type=int, default=7, help="random seed of the synthetic stream")
    r.add_argument("--invalid-share", type=float, default=0.02, help="share of deliberately invalid synthetic posts")
    r.set_defaults(func=cmd_replay, needs_broker=True)

    d = sub.add_parser("demo", help="embedded broker + worker + realistic stream with injected spikes")
    d.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    d.add_argument("--metrics-port", type=int, default=9108, help="the worker's /metrics, /healthz, /readyz")
    d.add_argument("--summary-json", type=Path, default=Path("demo-summary.json"),
                   help="write the run's summary (posts, windows, alerts) here")
    d.add_argument("--rate", type=float, default=40.0, help="posts per second of wall time")
    d.add_argument("--speedup", type=float, default=20.0, help="event-time seconds per wall second")
    d.add_argument("--scorer", choices=SCORERS, default="auto", help="auto: the fine-tuned model when present")
    d.add_argument("--seed", type=int, default=7, help="random seed of the synthetic stream")
    d.add_argument("--ui-port", type=int, default=8090, help="incident pages / live table (monitor ui); 0 = off")
    d.add_argument("--replay-source", choices=["none", "bluesky"], default="bluesky",
                   help="also replay a connector's fixture stream (Jetstream frames through the Bluesky mapper), "
                        "one post in 50, on the demo's clock")
    d.add_argument("--log-dir", default=".monitor-demo", help="one log file per process (broker, worker, ui, source)")
    d.set_defaults(func=cmd_demo)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="end-to-end throughput/latency through the broker vs raw scorer")
    _common(b)
    b.add_argument("--posts", type=int, default=2000, help="posts to produce")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--scorer", choices=SCORERS, default="auto", help="auto: the fine-tuned model when present")
    b.add_argument("--mix", choices=["text", "multimodal", "overload"], default="text",
                   help="text-only posts; 70 %% text / 20 %% image / 10 %% audio posts; or overload: 20 %% image "
                        "posts produced at once, faster than the media lane can encode (reports shedding)")
    b.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    b.add_argument("--workers", type=int, default=1, help="worker processes in the group (tokenisation is "
                   "CPU-bound: on a GPU machine several processes feed the device)")
    b.add_argument("--soak", type=float, default=None, metavar="SECONDS",
                   help="soak mode: steady realistic stream; sample RSS, fds, lag, latency")
    b.add_argument("--rate", type=float, default=None,
                   help="posts per second: soak (default 30) and --mix overload (default 100: 20 image posts/s, "
                        "above one CPU worker's media capacity since cheap OCR)")
    b.add_argument("--sample-s", type=float, default=60.0, help="soak: seconds between samples")
    b.add_argument("--image-share", type=float, default=None, help="soak: share of image posts (default: CPU-sized)")
    b.add_argument("--audio-share", type=float, default=None, help="soak: share of audio posts (default: CPU-sized)")
    b.add_argument("--plot", type=Path, default=None, help="soak: also save a PNG of the samples")
    b.set_defaults(func=cmd_bench)


def cmd_worker(args: argparse.Namespace) -> int:
    from monitor.worker import run_worker

    run_worker(settings_from(args, metrics_port=args.metrics_port, scorer=args.scorer), args.loglevel)
    return 0


def cmd_topics_create(args: argparse.Namespace) -> int:
    from monitor.app import bytopic_name
    from monitor.kafka_io import create_topics

    s = settings_from(args)
    created = create_topics(s, extra=[bytopic_name(s)])
    print("created: " + (", ".join(created) if created else "(all existed)"))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from monitor.synth.replay import replay

    s = settings_from(args)
    n = replay(s, args.file, args.synthetic, args.rate, args.seed, args.invalid_share)
    print(f"produced {n} messages to {s.topic_raw} on {s.bootstrap_servers}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(args)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.soak:
        from monitor.soak import run_soak

        return run_soak(args, settings_from(args, scorer=args.scorer))
    from monitor.bench import run_bench

    extra = {"device": args.device} if args.device else {}
    return run_bench(args, settings_from(args, scorer=args.scorer, **extra))


def cmd_test_webhook(args: argparse.Namespace) -> int:
    import asyncio

    import aiohttp

    from monitor.alert.delivery import RetryPolicy, Target, deliver
    from monitor.detect.engine import iso

    now = int(__import__("time").time() * 1000) // 60_000 * 60_000
    record = {"fingerprint": "test-webhook", "topic": "TEST", "signal": "negative_rate", "status": "firing",
              "startsAt": iso(now - 60_000), "endsAt": None,
              "window": {"start": iso(now - 60_000), "end": iso(now), "n": 100, "negatives": 60},
              "observed_rate": 0.6, "baseline_rate": 0.2, "score": 0.9999, "p_value": 1e-6, "peak_rate": 0.6,
              "peak_score": 0.9999, "summary": "sample alert from `monitor alerts test-webhook`"}

    async def go() -> str:
        async with aiohttp.ClientSession() as s:
            return await deliver(s, Target(url=args.url, secret=args.secret, format=args.format, name="test"),
                                 record, RetryPolicy(max_attempts=3, base_s=0.2))

    verdict = asyncio.run(go())
    print(f"delivery: {verdict}")
    return 0 if verdict == "ok" else 1


def cmd_verify(args: argparse.Namespace) -> int:
    import json

    from monitor.kafka_io import read_all
    from monitor.verify import account, account_ids, report_text

    s = settings_from(args)
    kw = s.kafka_python_kwargs()  # SASL / TLS on a secured cluster

    def values(topic: str) -> list:
        return [r["value"] for r in read_all(s.bootstrap_servers, topic, timeout_s=120, **kw)]

    if args.ids:
        ids = [line.strip() for line in args.ids.read_text().splitlines() if line.strip()]
        rep = account_ids(ids, values(s.topic_scored), values(s.topic_dlq))
    else:
        ids, anonymous = [], 0
        for v in values(s.topic_raw):
            if isinstance(v, dict) and isinstance(v.get("id"), str):
                ids.append(v["id"])
            else:
                anonymous += 1
        rep = account(ids, values(s.topic_scored), values(s.topic_dlq), values(s.topic_windows), s.window_s * 1000,
                      anonymous_invalid=anonymous)
    print(json.dumps(rep) if args.json else report_text(rep))
    return 0 if rep["lost"] == 0 and not rep.get("double_counted") else 1


def cmd_broker(args: argparse.Namespace) -> int:
    """The embedded broker alone, with the service's topics, until Ctrl-C / SIGTERM."""
    import signal
    import threading

    from monitor.app import bytopic_name
    from monitor.broker import EmbeddedBroker
    from monitor.inspect import broker_reachable
    from monitor.kafka_io import create_topics

    if args.port and broker_reachable(f"{args.host}:{args.port}", timeout_s=1.0) is None:
        raise OSError(f"{args.host}:{args.port} is already in use (another broker?). Pass --port P, or --port 0 "
                      f"for a free port")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    broker = EmbeddedBroker(args.host, args.port or None, advertise=args.advertise).start()
    try:
        s = Settings.load(args.config, bootstrap_servers=broker.bootstrap)
        create_topics(s, extra=[bytopic_name(s)])
        print(f"embedded Kafka-compatible broker (Tansu, memory only: stopping it loses every record) on "
              f"{broker.bootstrap}; log {broker.log_path}", flush=True)
        print(f"point other commands at it: --bootstrap-servers {broker.bootstrap}  (or: export "
              f"MONITOR_BOOTSTRAP_SERVERS={broker.bootstrap}); Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            if broker.proc is None or broker.proc.poll() is not None:
                raise RuntimeError(f"the embedded broker exited (log: {broker.log_path}). Check the log, then "
                                   f"start it again")
    finally:
        broker.stop()
    print("broker stopped", file=sys.stderr, flush=True)
    return 0
