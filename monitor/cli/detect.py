"""Detection commands: `monitor detect`, `monitor eval nab|rate-sim|detect|stream`, `monitor silence add|expire|list`."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any


def add_eval(evs: argparse._SubParsersAction) -> None:
    en = evs.add_parser("nab", help="NAB scores (standard / low-FP / low-FN) of the volume detector on NAB series")
    en.add_argument("--data", type=Path, required=True, help="folder with *.csv and windows.json")
    en.add_argument("--json", action="store_true")
    en.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    en.set_defaults(func=cmd_eval_nab)

    rs = evs.add_parser("rate-sim", help="recall by volume and spike size, false alarms per topic-week, delay")
    rs.add_argument("--days", type=float, default=7.0)
    rs.add_argument("--profile", choices=["realistic", "v2"], default="realistic",
                    help="realistic: nights at 1/3, weekends 0.6, slow share drift, shares 0.08-0.35, a spike found "
                         "only if its alert starts within its first 3 windows; v2: the earlier simulator")
    rs.add_argument("--seeds", default="101,102,103,104",
                    help="comma-separated; defaults were chosen on seeds 1,2 (dev), so these are held out")
    rs.add_argument("--json", action="store_true")
    rs.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    rs.add_argument("--plot", type=Path, default=None, help="PNG: recall by volume band and spike size")
    rs.set_defaults(func=cmd_eval_rate_sim)

    ed = evs.add_parser("detect", help="replay a recorded sentiment.windows stream against labelled incidents")
    ed.add_argument("--windows", type=Path, required=True, help="JSON lines of sentiment.windows records")
    ed.add_argument("--incidents", type=Path, required=True, help="JSON / JSON lines / CSV: topic,start,end[,signal]")
    ed.add_argument("--grace-windows", type=int, default=2)
    ed.add_argument("--json", action="store_true")
    ed.set_defaults(func=cmd_eval_detect)

    st = evs.add_parser("stream", help="replay a recorded post stream through scorer, windows and detector; judge "
                                       "the alerts against price-move days (recall, unmatched alerts, lead time)")
    st.add_argument("--posts", type=Path, required=True, help="posts.raw JSON lines (.gz ok), sorted by time")
    st.add_argument("--events", type=Path, required=True, help="events.json: per ticker, down / up days")
    st.add_argument("--window-s", type=int, default=None, help="window size (default: the settings' window_s)")
    st.add_argument("--scorer", choices=["auto", "text", "vader"], default=None)
    st.add_argument("--config", type=Path, default=None, help="YAML settings (the worker's; MONITOR_* env apply)")
    st.add_argument("--cache-dir", type=Path, default=Path(".cache"), help="scores cached here by scorer + texts")
    st.add_argument("--output", type=Path, default=None, help="write the JSON report here")
    st.add_argument("--plots", type=Path, default=None, help="folder for one PNG timeline per ticker")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_eval_stream)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    de = sub.add_parser("detect", help="run the spike detector offline over a CSV series")
    de.add_argument("--input", type=Path, required=True)
    de.add_argument("--output", type=Path, required=True)
    de.add_argument("--kind", choices=["counts", "rate"], default="counts")
    de.set_defaults(func=cmd_detect)

    si = sub.add_parser("silence", help="silence alerts of a topic (kept on the silences topic, read by workers)")
    sis = si.add_subparsers(dest="what", required=True)
    for name, help_ in (("add", "silence a topic for a while"), ("expire", "end a topic's silence now"),
                        ("list", "silences in force")):
        p = sis.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, default=None)
        p.add_argument("--bootstrap-servers", default=None)
        if name != "list":
            p.add_argument("--topic", required=True, help="a topic (e.g. $ACME, #brand) or * for every topic")
        if name == "add":
            p.add_argument("--duration", required=True, help="e.g. 90m, 2h, 1d")
            p.add_argument("--comment", default="")
            p.add_argument("--by", default=None, help="who (default: the login name)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=cmd_silence)


def _emit(res: Any, as_json: bool, output: Path | None) -> None:
    text = json.dumps(res, indent=None if as_json else 2)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(res, indent=2) + "\n")
    print(text)


def cmd_eval_nab(args: argparse.Namespace) -> int:
    from monitor.detect.nab import evaluate_dir

    _emit(evaluate_dir(args.data), args.json, args.output)
    return 0


def cmd_eval_rate_sim(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from monitor.detect.simulate import SimConfig, plot, simulate_seeds

    seeds = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    from monitor.config import Settings
    from monitor.detect.setup import detector_configs

    cfg = SimConfig(days=args.days) if args.profile == "realistic" else SimConfig(
        days=args.days, realistic=False, found_within=None, base_rates=(0.15, 0.25, 0.35))
    res = simulate_seeds(cfg, seeds, rate_cfg=detector_configs(Settings.load()).rate,
                         progress=lambda xs: tqdm(xs, desc="simulated seeds", unit="seed", file=sys.stderr))
    if args.plot:
        plot(res, args.plot)
    _emit(res, args.json, args.output)
    return 0


def cmd_eval_detect(args: argparse.Namespace) -> int:
    from monitor.detect.replay import evaluate

    try:
        res = evaluate(args.windows, args.incidents, args.grace_windows)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['windows']} windows, {res['topics']} topics, {res['incidents']} incidents: recall "
              f"{res['recall']}, precision {res['precision']} ({res['firings']} firings, {res['false_positives']} "
              f"false), median time to detect {res['median_time_to_detect_s']} s")
        for inc in res["per_incident"]:
            print(f"  {inc['topic']:<16} {inc['signal']:<14} detected={inc['detected']!s:<5} "
                  f"time_to_detect_s={inc['time_to_detect_s']}")
    return 0


def cmd_eval_stream(args: argparse.Namespace) -> int:
    from monitor.config import Settings
    from monitor.detect.stream_eval import evaluate, load_events, plot_timelines

    try:
        settings = Settings.load(args.config, window_s=args.window_s, scorer=args.scorer)
        report, windows, alerts = evaluate(args.posts, args.events, settings, args.cache_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.plots:
        paths = plot_timelines(windows, alerts, load_events(args.events), args.plots, sorted(report["per_ticker"]))
        report["plots"] = str(args.plots)
        print(f"{len(paths)} timelines in {args.plots}", file=sys.stderr)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1, default=str))
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k not in ("down_days", "up_days", "per_ticker")},
                         default=str))
    else:
        b = report["baseline_zscore"]
        print(f"{args.posts}: {report['posts']} posts, {report['tickers']} tickers, {report['weeks']} weeks, "
              f"scorer {report['scorer']}, {report['window_s']} s windows, late events {report['late_events']}")
        print(f"detectable down days {report['detectable_down_days']}: any-alert recall {report['recall_any_down']}, "
              f"negative-rate recall {report['recall_negative_rate_down']}, volume {report['recall_volume_down']}")
        print(f"detectable up days {report['detectable_up_days']}: any {report['recall_any_up']}, negative-rate "
              f"{report['recall_negative_rate_up']}")
        print(f"unmatched alerts per ticker-week {report['unmatched_per_ticker_week']} (negative rate "
              f"{report['unmatched_negative_rate_per_ticker_week']}, volume {report['unmatched_volume_per_ticker_week']})"
              f"; median lead vs the 09:30 open {report['median_lead_s']} s")
        print(f"baseline ({b['definition']}): down recall {b['recall_down']}, up {b['recall_up']}, unmatched per "
              f"ticker-week {b['unmatched_per_ticker_week']}")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from monitor.detect.offline import run_file

    try:
        n = run_file(args.input, args.output, args.kind)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{n} alerts written to {args.output}", file=sys.stderr)
    return 0


def cmd_silence(args: argparse.Namespace) -> int:
    import time

    from monitor import kafka_silences
    from monitor.config import Settings
    from monitor.detect import silences
    from monitor.inspect import span, when

    s = Settings.load(args.config, bootstrap_servers=args.bootstrap_servers)
    if args.what == "add":
        try:
            duration = silences.parse_duration(args.duration)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        rec = silences.silence_record(args.topic, duration, args.comment, args.by or getpass.getuser())
        kafka_silences.write(s, args.topic, rec)
        print(json.dumps(rec) if args.json else f"silenced {args.topic} until {when(rec['until_ms'])} UTC "
                                                 f"({args.duration}): {args.comment}")
    elif args.what == "expire":
        kafka_silences.write(s, args.topic, {"topic": args.topic, "expired": True})
        print(json.dumps({"topic": args.topic, "expired": True}) if args.json else f"silence of {args.topic} expired")
    else:
        cur = kafka_silences.current(s)
        if args.json:
            print(json.dumps(cur))
        else:
            if not cur:
                print("no silences in force", file=sys.stderr)
            for topic, rec in sorted(cur.items()):
                left = span(rec["until_ms"] / 1000 - time.time())
                print(f"{topic:<20} until {when(rec['until_ms'])} UTC ({left} left)  by {rec.get('created_by', '')}: "
                      f"{rec.get('comment', '')}")
    return 0
