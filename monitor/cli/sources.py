"""`monitor ingest bluesky|mastodon|reddit|rss|http ...`: connectors that publish to posts.raw."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from monitor.cli.stream import _common, settings_from
from monitor.cli.ui import add_token_options, resolve_token
from monitor.config import Settings
from monitor.inspect import BrokerUnreachable

# what makes two connector instances different (secrets, limits and timing do not): the default checkpoint is
# .state/<source>-<hash of these>.json, so two instances of a source never share (and corrupt) one resume file
INSTANCE_PARAMS: dict[str, tuple[str, ...]] = {
    "bluesky": ("url",), "mastodon": ("base", "hashtag", "local"), "reddit": ("base", "subreddits", "comments"),
    "rss": ("feed",), "http": ("host", "port")}
FILTER_PARAMS = ("keywords", "cashtags", "accounts")


def _csv(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def default_checkpoint(args: argparse.Namespace) -> Path:
    """--checkpoint, else `.state/<source>-<10 hex digits>.json` from the instance's sorted parameters (server,
    subreddits, feed URLs, filters ...): stable across restarts, different for two instances of one source."""
    if args.checkpoint is not None:
        return Path(args.checkpoint)
    params: dict[str, object] = {}
    for name in (*INSTANCE_PARAMS.get(args.source, ()), *FILTER_PARAMS):
        value = getattr(args, name, None)
        if name in FILTER_PARAMS:
            value = sorted({x.lower() for x in _csv(value)})
        elif name == "subreddits":
            value = sorted({x.lower() for x in str(value or "").split("+") if x})
        elif isinstance(value, list):
            value = sorted(set(value))
        elif isinstance(value, str):
            value = value.rstrip("/")
        params[name] = value
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return Path(".state") / f"{args.source}-{digest}.json"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ing = sub.add_parser("ingest", help="run a source connector that publishes posts to the raw topic")
    srcs = ing.add_subparsers(dest="source", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        _common(p)
        p.add_argument("--checkpoint", type=Path, default=None,
                       help="resume file (default .state/<source>-<hash of the source's parameters>.json): "
                       "written after each broker flush")
        p.add_argument("--keywords", default="", help="comma-separated: keep posts containing one of these words")
        p.add_argument("--cashtags", default="", help="comma-separated: keep posts mentioning one ($TSLA,NVDA)")
        p.add_argument("--accounts", default="", help="comma-separated: keep posts by these authors")
        p.add_argument("--max-posts", type=int, default=0, help="stop after publishing this many (0 = never)")
        p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = never)")
        p.add_argument("--metrics-port", type=int, default=0, help="serve monitor_source_* metrics here (0 = off)")
        p.add_argument("--loglevel", default="warning",
                       help="log level (debug, info, warning, error); kafka-python logs warnings only unless --debug")
        p.set_defaults(func=cmd_ingest)

    b = srcs.add_parser("bluesky", help="Bluesky Jetstream WebSocket (app.bsky.feed.post creates)")
    b.add_argument("--url", default="wss://jetstream2.us-east.bsky.network/subscribe", help="Jetstream endpoint")
    common(b)
    m = srcs.add_parser("mastodon", help="Mastodon streaming API (server-sent events) of one server")
    m.add_argument("--base", required=True, help="server, e.g. https://mastodon.social")
    m.add_argument("--hashtag", default=None, help="a hashtag timeline instead of the public one")
    m.add_argument("--local", action="store_true", help="the server's local timeline only")
    add_token_options(m, "access token (some servers require one for streaming)", "MONITOR_MASTODON_TOKEN")
    common(m)
    r = srcs.add_parser("reddit", help="Reddit listings of chosen subreddits, polled")
    r.add_argument("--base", default="https://www.reddit.com", help="Reddit server")
    r.add_argument("--subreddits", required=True, help="e.g. wallstreetbets+stocks")
    r.add_argument("--comments", action="store_true", help="also poll new comments")
    r.add_argument("--interval", type=float, default=30.0, help="seconds between polls")
    r.add_argument("--max-pages", type=int, default=10,
                   help="listing pages (100 posts each) read back per poll to reach the last post published; "
                   "stopping short is a gap (monitor_source_gaps_total)")
    common(r)
    f = srcs.add_parser("rss", help="RSS / Atom feeds, polled")
    f.add_argument("--feed", action="append", required=True, help="feed URL (repeat for several)")
    f.add_argument("--interval", type=float, default=300.0, help="seconds between polls")
    common(f)
    h = srcs.add_parser("http", help="HTTP endpoint POST /ingest (JSON post, array or JSON lines)")
    h.add_argument("--host", default="127.0.0.1", help="bind address (anything but loopback needs a token)")
    h.add_argument("--port", type=int, default=8088, help="listen port")
    add_token_options(h, "bearer token (required to bind a non-loopback address)", "MONITOR_INGEST_TOKEN")
    common(h)
    _add_synthetic(srcs)


def _add_synthetic(srcs: argparse._SubParsersAction) -> None:
    s = srcs.add_parser("synthetic", help="the demo's synthetic stream (eight topics, invalid, image and audio "
                        "posts, optional injected spikes) in compressed event time",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _common(s)
    s.add_argument("--rate", type=float, default=40.0, help="posts per wall second")
    s.add_argument("--speedup", type=float, default=20.0, help="event-time seconds per wall second")
    s.add_argument("--seed", type=int, default=7, help="random seed of the stream")
    s.add_argument("--start-ms", type=int, default=0,
                   help="event time of the first post, epoch ms (0: so that the spikes end about now)")
    s.add_argument("--spikes-over", type=float, default=0.0,
                   help="inject the demo's three negative spikes (TSLA, acme, AAPL) spread over this many wall "
                   "seconds (0 = none)")
    s.add_argument("--image-share", type=float, default=None, help="share of image posts (default: sized for a "
                   "2-core CPU, 1.2 %%)")
    s.add_argument("--audio-share", type=float, default=None, help="share of audio posts (default 0.6 %%)")
    s.add_argument("--replay-bluesky", action="store_true",
                   help="one post in 50 is a Bluesky fixture frame mapped by the real connector")
    s.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = never)")
    s.add_argument("--counts-file", type=Path, default=None, help="on stop, write the produced counts here (JSON)")
    s.add_argument("--loglevel", default="warning", help="log level")
    s.set_defaults(func=cmd_ingest_synthetic)


def _connect_blocking(settings: Settings, stop: Any, max_delay_s: float = 30.0) -> Any:
    """The posts.raw publisher once the broker answers (one warning per attempt, backoff 1, 2, 4 ... s); None when
    `stop` (a threading.Event) is set first."""
    from kafka.errors import KafkaError

    from monitor.inspect import broker_reachable
    from monitor.sources.runtime import Publisher

    log = logging.getLogger("monitor.sources")
    delay, attempt = 1.0, 0
    while not stop.is_set():
        attempt += 1
        why = broker_reachable(settings.bootstrap_servers)
        if why is None:
            try:
                return Publisher(settings)
            except KafkaError as exc:
                why = f"{type(exc).__name__}: {exc}"
        log.warning("synthetic: Kafka broker %s unreachable (%s), attempt %d; retrying in %.0f s",
                    settings.bootstrap_servers, why, attempt, delay)
        stop.wait(delay)
        delay = min(max_delay_s, delay * 2)
    return None


def cmd_ingest_synthetic(args: argparse.Namespace) -> int:
    import threading

    from monitor.synth.source import SyntheticOptions, run_synthetic, stream_spec

    configure_logging(args)
    settings = settings_from(args)
    opts = SyntheticOptions(rate=args.rate, speedup=args.speedup, seed=args.seed, start_ms=args.start_ms,
                            spikes_over_s=args.spikes_over, replay_bluesky=args.replay_bluesky,
                            duration_s=args.duration)
    if args.image_share is not None:
        opts.image_share = args.image_share
    if args.audio_share is not None:
        opts.audio_share = args.audio_share
    spec = stream_spec(opts)
    print(f"monitor ingest synthetic: {args.rate:g} posts/s x{args.speedup:g} event time, "
          f"{len(spec.spikes)} injected spike(s) -> {settings.topic_raw} on {settings.bootstrap_servers}",
          file=sys.stderr, flush=True)

    stop = threading.Event()  # one handler from the start: a stop while connecting is not lost
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    publisher = _connect_blocking(settings, stop)
    produced: Counter[str] = Counter()
    if publisher is not None:
        try:
            produced = run_synthetic(opts, spec, lambda k, v: publisher.send(k, v), stop)
        finally:
            publisher.close()
    counts = {"produced": sum(produced.values()), "valid": produced["valid"], "invalid": produced["invalid"],
              "start_ms": spec.start_ms}
    if args.counts_file:
        args.counts_file.write_text(json.dumps(counts) + "\n")
    print(json.dumps(counts), flush=True)
    return 0


def configure_logging(args: argparse.Namespace) -> None:
    """--loglevel for the connector (default warning); kafka-python's loggers at WARNING unless --debug."""
    level = getattr(logging, str(args.loglevel).upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "debug", False):
        logging.getLogger("kafka").setLevel(max(level, logging.WARNING))


def start_summary(args: argparse.Namespace, settings: Settings, checkpoint: Path) -> str:
    """The one line a connector prints when it starts."""
    what = {"bluesky": lambda: args.url, "mastodon": lambda: args.base, "reddit": lambda: f"r/{args.subreddits}",
            "rss": lambda: f"{len(args.feed)} feed(s)", "http": lambda: f"http://{args.host}:{args.port}/ingest"}
    filters = ", ".join(f"{k} {getattr(args, k)}" for k in FILTER_PARAMS if getattr(args, k, ""))
    return (f"monitor ingest {args.source}: {what[args.source]()} -> {settings.topic_raw} on "
            f"{settings.bootstrap_servers}" + (f" ({filters})" if filters else "")
            + f"; checkpoint {checkpoint}")


async def connect_publisher(settings: Settings, stop: asyncio.Event, name: str, max_delay_s: float = 30.0) -> Any:
    """The connector's producer, once the broker answers: while it does not, one warning per attempt and a
    backoff (1 s, 2 s, 4 s ... up to max_delay_s) instead of kafka-python's 30 s wait and traceback. None when
    `stop` is set first."""
    from kafka.errors import KafkaError

    from monitor.inspect import broker_reachable
    from monitor.sources import runtime

    log = logging.getLogger("monitor.sources")
    real = runtime.Publisher.__module__ == "monitor.sources.runtime"  # a stand-in (tests) needs no broker
    delay, attempt = 1.0, 0
    while not stop.is_set():
        attempt += 1
        why = await asyncio.to_thread(broker_reachable, settings.bootstrap_servers) if real else None
        if why is None:
            try:
                return await asyncio.to_thread(runtime.Publisher, settings)
            except KafkaError as exc:
                why = f"{type(exc).__name__}: {exc}"
        log.warning("%s: Kafka broker %s unreachable (%s), attempt %d; retrying in %.0f s%s", name,
                    settings.bootstrap_servers, why, attempt, delay,
                    " (start one with `monitor broker`, or pass --bootstrap-servers)" if attempt == 1 else "")
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass
        delay = min(max_delay_s, delay * 2)
    return None


def cmd_ingest(args: argparse.Namespace) -> int:
    from monitor.metrics import SourceMetrics
    from monitor.sources import adapters, http_ingest
    from monitor.sources.common import Checkpoint, Filter
    from monitor.sources.runtime import SourceRun

    configure_logging(args)
    token = resolve_token(args) if args.source in ("mastodon", "http") else None
    settings = settings_from(args)
    checkpoint = default_checkpoint(args)
    legacy = Path(".state") / f"{args.source}.json"
    if args.checkpoint is None and legacy.exists() and not checkpoint.exists():
        logging.getLogger("monitor.sources").warning(
            "%s: the default checkpoint is now %s (one per instance); %s is not read: pass --checkpoint %s to "
            "resume from it", args.source, checkpoint, legacy, legacy)
    metrics = SourceMetrics()
    if args.metrics_port:
        from monitor.metrics.server import serve

        serve(metrics.registry, settings.metrics_host, args.metrics_port, lambda: {"ready": True})

    print(start_summary(args, settings, checkpoint), file=sys.stderr, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        publisher = await connect_publisher(settings, stop, args.source)
        if publisher is None:
            raise BrokerUnreachable(settings.bootstrap_servers, "stopped before it answered")
        run = SourceRun(args.source, settings, Checkpoint(checkpoint),
                        Filter(_csv(args.keywords), _csv(args.cashtags), _csv(args.accounts)), metrics,
                        max_posts=args.max_posts, stop=stop, publisher=publisher)
        try:
            if args.source == "bluesky":
                await adapters.run_bluesky(run, args.url)
            elif args.source == "mastodon":
                await adapters.run_mastodon(run, args.base.rstrip("/"), args.hashtag, token, args.local)
            elif args.source == "reddit":
                base = args.base.rstrip("/")
                urls = [f"{base}/r/{args.subreddits}/new.json?limit=100&raw_json=1"]
                if args.comments:
                    urls.append(f"{base}/r/{args.subreddits}/comments.json?limit=100&raw_json=1")
                await adapters.run_polled(run, urls, args.interval, "reddit", max_pages=args.max_pages)
            elif args.source == "rss":
                await adapters.run_polled(run, args.feed, args.interval, "rss")
            else:
                await http_ingest.serve(run, args.host, args.port, token)
        finally:
            run.publisher.close()
            logging.getLogger("monitor.sources").info("%s: stopped after %d posts", args.source, run.published)

    asyncio.run(main())
    return 0
