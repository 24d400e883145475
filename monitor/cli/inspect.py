"""Read-only tools over the service's output topics: `monitor alerts list|tail` (and the `alerts test-webhook` parser,
its command in cli.stream), `monitor posts tail`, `monitor windows tail`. Human tables by default (UTC times, percentages), `--json` for JSON lines (the record values
as they are on the topic)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from monitor.cli.stream import _common, settings_from

LABELS = ("negative", "neutral", "positive", "unscored_modality")


def _reader_options(p: argparse.ArgumentParser, follow: bool) -> None:
    _common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line (the record as on the topic)")
    if follow:
        p.add_argument("--from-beginning", action="store_true",
                       help="start with the records already on the topic (default: only new ones)")
        p.add_argument("--limit", type=int, default=0, metavar="N", help="stop after N records (0 = never)")
        p.add_argument("--timeout", type=float, default=0.0, metavar="S",
                       help="stop after S seconds (0 = run until Ctrl-C)")
    else:
        p.add_argument("--limit", type=int, default=0, metavar="N", help="only the newest N (0 = all)")
        p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                       help="give up reading the topic after S seconds")
    p.set_defaults(needs_broker=True)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _add_alerts(sub)
    po = sub.add_parser("posts", help="read scored posts back (posts.scored)")
    pos = po.add_subparsers(dest="what", required=True)
    pt = pos.add_parser("tail", help="follow scored posts as the workers publish them")
    pt.add_argument("--topic", default=None, help="only posts of this monitored topic (e.g. $ACME, #brand)")
    pt.add_argument("--label", choices=LABELS, default=None, help="only posts with this label")
    _reader_options(pt, True)
    pt.set_defaults(func=cmd_posts_tail)

    wi = sub.add_parser("windows", help="read closed window statistics back (sentiment.windows)")
    wis = wi.add_subparsers(dest="what", required=True)
    wt = wis.add_parser("tail", help="follow closed windows: posts, negative share, counts per label")
    wt.add_argument("--topic", default=None, help="only windows of this monitored topic (e.g. $ACME, #brand)")
    wt.add_argument("--kind", choices=["tumbling", "hopping", "all"], default="tumbling",
                    help="window kind (hopping = sums of tumbling ones)")
    _reader_options(wt, True)
    wt.set_defaults(func=cmd_windows_tail)


def _add_alerts(sub: argparse._SubParsersAction) -> None:
    from monitor.cli.stream import cmd_test_webhook

    al = sub.add_parser("alerts", help="read alerts back (list, tail); send a sample to a webhook")
    als = al.add_subparsers(dest="what", required=True)
    for name, follow, help_ in (("list", False, "every alert state change on the alerts topic so far, oldest first"),
                                ("tail", True, "follow new alert state changes as they happen")):
        p = als.add_parser(name, help=help_)
        p.add_argument("--topic", default=None, help="only this monitored topic (e.g. $ACME, #brand)")
        p.add_argument("--status", choices=["firing", "resolved"], default=None, help="only this state change")
        _reader_options(p, follow)
        p.set_defaults(func=cmd_alerts_list if name == "list" else cmd_alerts_tail)
    tw = als.add_parser("test-webhook", help="send a sample alert to a webhook URL")
    tw.add_argument("url", help="the receiver's URL")
    tw.add_argument("--secret", default="", help="HMAC secret of the receiver (empty: unsigned)")
    tw.add_argument("--format", choices=["alertmanager", "slack", "raw"], default="alertmanager",
                    help="payload format the receiver expects")
    tw.set_defaults(func=cmd_test_webhook)


def follow_topic(args: argparse.Namespace, topic: str, match: Callable[[Any], bool],
                 columns: Sequence[tuple[str, int]], cells: Callable[[dict[str, Any]], list[Any]]) -> int:
    """Print the matching records of `topic` as they arrive, until --limit records or --timeout seconds."""
    from monitor.inspect import header, json_line, read_records, row

    s = settings_from(args)
    reader = read_records(s.bootstrap_servers, topic, from_beginning=args.from_beginning, follow=True,
                          timeout_s=args.timeout or None, **s.kafka_python_kwargs())
    if not args.json:
        print(f"following {topic} on {s.bootstrap_servers}" + (" from the beginning" if args.from_beginning else "")
              + " (Ctrl-C to stop)", file=sys.stderr, flush=True)
        print(header(columns), flush=True)
    shown = 0
    try:
        with reader:
            for r in reader:
                if not match(r["value"]):
                    continue
                print(json_line(r["value"]) if args.json else row(columns, cells(r["value"])), flush=True)
                shown += 1
                if args.limit and shown >= args.limit:
                    break
    except KeyboardInterrupt:
        pass
    return 0


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from monitor.inspect import (
        ALERT_COLUMNS,
        alert_cells,
        alert_changed_ms,
        alert_matches,
        header,
        json_line,
        read_records,
        row,
    )

    s = settings_from(args)
    with read_records(s.bootstrap_servers, s.topic_alerts, timeout_s=args.timeout,
                      **s.kafka_python_kwargs()) as reader:
        got = [r for r in reader if alert_matches(r["value"], args.topic, args.status)]
    got.sort(key=lambda r: (alert_changed_ms(r["value"]) or 0, r["timestamp"] or 0, r["partition"], r["offset"]))
    if args.limit:
        got = got[-args.limit:]
    if args.json:
        for r in got:
            print(json_line(r["value"]))
        return 0
    if not got:
        print(f"no alert state changes on {s.topic_alerts} ({s.bootstrap_servers}) yet", file=sys.stderr)
        return 0
    print(header(ALERT_COLUMNS))
    for r in got:
        print(row(ALERT_COLUMNS, alert_cells(r["value"])))
    return 0


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from monitor.inspect import ALERT_COLUMNS, alert_cells, alert_matches

    s = settings_from(args)
    return follow_topic(args, s.topic_alerts, lambda v: alert_matches(v, args.topic, args.status), ALERT_COLUMNS,
                        alert_cells)


def cmd_posts_tail(args: argparse.Namespace) -> int:
    from monitor.inspect import POST_COLUMNS, post_cells, post_matches

    s = settings_from(args)
    return follow_topic(args, s.topic_scored, lambda v: post_matches(v, args.topic, args.label), POST_COLUMNS,
                        post_cells)


def cmd_windows_tail(args: argparse.Namespace) -> int:
    from monitor.inspect import WINDOW_COLUMNS, window_cells, window_matches

    s = settings_from(args)
    return follow_topic(args, s.topic_windows, lambda v: window_matches(v, args.topic, args.kind), WINDOW_COLUMNS,
                        window_cells)
