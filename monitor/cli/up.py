"""`monitor up`: broker + topics + worker + live page + the sources of one YAML file (monitor.up)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    u = sub.add_parser("up", help="run the whole monitor on your own stream: embedded broker (or "
                       "--bootstrap-servers), worker, live page and the sources listed in a YAML file",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    u.add_argument("--sources", type=Path, default=None,
                   help="YAML file with `sources:` (rss, http, mastodon, reddit, bluesky) and optional `settings:`")
    u.add_argument("--config", type=Path, default=None, help="YAML settings file (also MONITOR_CONFIG)")
    u.add_argument("--bootstrap-servers", default=None,
                   help="use this Kafka cluster instead of starting the embedded broker")
    u.add_argument("--ui-port", type=int, default=8090, help="live page and incident pages (0 = off)")
    u.add_argument("--metrics-port", type=int, default=9108, help="the worker's /metrics")
    u.add_argument("--scorer", choices=["auto", "text", "vader"], default=None,
                   help="text scorer (default: the setting, auto = the fine-tuned model when present)")
    u.add_argument("--log-dir", default=".monitor-up", help="one log file per process")
    u.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = run until Ctrl-C)")
    u.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    import sys

    from monitor.up import UpError, run_up

    try:
        return run_up(args)
    except UpError as exc:
        print(f"monitor up: error: {exc}", file=sys.stderr)
        return 2
