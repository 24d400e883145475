"""`monitor demo`: `monitor up` (embedded broker, worker, live page) with the synthetic source and its injected
spikes, plus a local webhook receiver — one code path with `monitor up` (`monitor/up.py: start_stack`).

Prints a compact live view per topic, then stops the source, waits until every produced post is scored or
dead-lettered, and writes a summary JSON (exit 1 if any post is unaccounted for).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from monitor.config import Settings
from monitor.synth.source import SyntheticOptions, args_for, stream_spec
from monitor.synth.stream import StreamSpec
from monitor.up import Child, Stack, start_stack

if TYPE_CHECKING:
    from monitor.alert.receiver import WebhookReceiver

DEMO_KEYWORDS = {"acme": ["acme"], "globex": ["globex"]}


class Collector(threading.Thread):
    """Reads scored, DLQ and window records (no consumer group) and keeps the demo's view of the world."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.s = settings
        self.stop_evt = threading.Event()
        self.lock = threading.Lock()
        self.scored_ids: set[str] = set()
        self.scored_records = 0
        self.dlq: Counter[str] = Counter()  # dead-lettered raw posts by reason, each (partition, offset) once
        self.dlq_seen: set[tuple[int, int]] = set()
        self.dlq_other: Counter[str] = Counter()  # DLQ records that are not raw posts (e.g. alert deliveries)
        self.labels: Counter[str] = Counter()
        self.windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.models: Counter[str] = Counter()
        self.alerts: list[dict[str, Any]] = []

    def run(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.s.bootstrap_servers, group_id=None, enable_auto_commit=False,
                          client_id=f"demo-view-{uuid.uuid4().hex[:6]}")
        tps = [TopicPartition(t, p) for t in (self.s.topic_scored, self.s.topic_dlq, self.s.topic_windows,
                                              self.s.topic_alerts)
               for p in range(self.s.partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        while not self.stop_evt.is_set():
            for tp, msgs in c.poll(timeout_ms=300).items():
                with self.lock:
                    for m in msgs:
                        v = json.loads(m.value)
                        if tp.topic == self.s.topic_scored:
                            self.scored_records += 1
                            if v["id"] not in self.scored_ids:
                                self.scored_ids.add(v["id"])
                                self.labels[v["label"]] += 1
                                self.models[v["model"]] += 1
                        elif tp.topic == self.s.topic_dlq:
                            self._dead_letter(v)
                        elif tp.topic == self.s.topic_alerts:
                            self.alerts.append(v)
                        else:
                            self.windows[v["topic"]].append(v)
        c.close()

    def _dead_letter(self, v: dict[str, Any]) -> None:
        """A raw post's DLQ record counts once (a worker restart may dead-letter the same offset again)."""
        if v.get("source_topic") != self.s.topic_raw:
            self.dlq_other[v.get("reason", "?")] += 1
            return
        where = (int(v.get("partition", -1)), int(v.get("offset", -1)))
        if where not in self.dlq_seen:
            self.dlq_seen.add(where)
            self.dlq[v["reason"]] += 1


def view(col: Collector, spikes: list[Any], start_ms: int, produced: int | None = None, top: int = 10) -> Table:
    head = f"produced {produced} · " if produced is not None else ""
    t = Table(title=f"{head}scored {len(col.scored_ids)} · dead-lettered {sum(col.dlq.values())}",
              title_justify="left")
    for h in ("topic", "posts (5m)", "neg rate (1m)", "neg rate (5m)", "windows", "last window (event time)", "injected",
              "alert"):
        t.add_column(h)
    with col.lock:
        items = sorted(col.windows.items(), key=lambda kv: -sum(w["n"] for w in kv[1] if w["kind"] == "tumbling"))
        for topic, ws in items[:top]:
            tum = [w for w in ws if w["kind"] == "tumbling"]
            hop = [w for w in ws if w["kind"] == "hopping"]
            last_t, last_h = (tum[-1] if tum else None), (hop[-1] if hop else None)
            end = last_t["end_ms"] if last_t else 0
            firing = {a["fingerprint"]: a["status"] for a in col.alerts if a["topic"] == topic}
            alert = "[red]FIRING[/red]" if "firing" in firing.values() else ("resolved" if firing else "-")
            injected = any(s.topic == topic and start_ms + s.start_s * 1000 <= end - 1
                           < start_ms + (s.start_s + s.duration_s) * 1000 for s in spikes)
            t.add_row(topic, str(last_h["n"] if last_h else 0),
                      f"{last_t['negative_rate']:.2f}" if last_t else "-",
                      f"{last_h['negative_rate']:.2f}" if last_h else "-", str(len(tum)),
                      time.strftime("%H:%M", time.gmtime(end / 1000)) if end else "-",
                      "[red]spike[/red]" if injected else "-", alert)
    return t


def _start_receiver(console: Console) -> tuple[WebhookReceiver, str]:
    """A local webhook receiver that prints each alert it gets; returns it and its HMAC secret."""
    from monitor.alert.receiver import WebhookReceiver

    secret = uuid.uuid4().hex

    def show(payload: dict[str, Any]) -> None:
        for a in payload.get("alerts", []):
            colour = "red" if a["status"] == "firing" else "green"
            console.print(f"[{colour}]webhook ← {a['status'].upper()} {a['labels']['topic']}: "
                          f"{a['annotations']['summary']}[/{colour}]")

    receiver = WebhookReceiver(secret, on_alert=show)
    console.print(f"local webhook receiver on {receiver.url} (Alertmanager format, HMAC-signed; secret {secret}: "
                  f"`monitor alerts test-webhook --url {receiver.url} --secret {secret}`)")
    return receiver, secret


def demo_overrides(receiver_url: str, secret: str) -> dict[str, Any]:
    """The demo's settings on top of the defaults: its keywords, its webhook receiver, a shorter warm-up (the demo
    compresses ~40 event-minutes into 2 wall-minutes)."""
    return {"keywords": DEMO_KEYWORDS,
            "webhooks": [{"url": receiver_url, "secret": secret, "format": "alertmanager", "name": "demo-receiver"}],
            "detect_warmup_windows": int(os.environ.get("MONITOR_DETECT_WARMUP_WINDOWS", "8"))}


def synthetic_options(args: argparse.Namespace, wall_total: float) -> SyntheticOptions:
    o = SyntheticOptions(rate=args.rate, speedup=args.speedup, seed=args.seed, spikes_over_s=wall_total,
                         replay_bluesky=getattr(args, "replay_source", "none") == "bluesky")
    o.start_ms = stream_spec(o).start_ms  # fixed here, so the live view and the source agree
    return o


def _run_stream(args: argparse.Namespace, stack: Stack, source: Child, spec: Any, wall_total: float, col: Collector,
                stop: threading.Event, console: Console) -> None:
    """Until --duration, Ctrl-C or the source's end: the supervisor's ticks and the live view every 5 s."""
    t0 = last_view = time.monotonic()
    while not stop.is_set() and time.monotonic() - t0 < wall_total and source.alive():
        stack.sup.tick(time.monotonic())
        if time.monotonic() - last_view > 5:
            last_view = time.monotonic()
            console.print(view(col, spec.spikes, spec.start_ms))
        time.sleep(0.2)


def _drain(col: Collector, total: int, stop: threading.Event | None = None) -> None:
    """Wait while the worker makes progress (media posts are slow on a small CPU), at most 10 minutes, until every
    produced post is scored or dead-lettered."""
    last_done, last_progress, hard_deadline = -1, time.monotonic(), time.monotonic() + 600
    while time.monotonic() < hard_deadline and time.monotonic() - last_progress < 60:
        if stop is not None and stop.is_set():  # a second Ctrl-C: stop waiting (the summary says what is lost)
            break
        with col.lock:
            done = len(col.scored_ids) + sum(col.dlq.values())
        if done >= total:
            break
        if done != last_done:
            last_done, last_progress = done, time.monotonic()
        time.sleep(0.5)


def _print_summary(summary: dict[str, Any], summary_json: Path, console: Console) -> None:
    for a in summary["alerts"]:
        if a["signal"] == "negative_rate":
            console.print(f"alert {a['topic']}: {a['startsAt']} → {a['endsAt'] or 'firing'}, peak negative rate "
                          f"{a['peak_rate']:.0%} vs baseline {a['baseline_rate']:.0%}")
        else:
            console.print(f"alert {a['topic']} ({a['signal']}): {a['startsAt']} → {a['endsAt'] or 'firing'}, "
                          f"peak {a['peak_rate']:.0f} posts/window vs about {a['baseline_rate']:.0f}")
    console.print(f"summary: produced {summary['posts']['produced']}, scored {summary['posts']['scored']}, "
                  f"dead-lettered {summary['posts']['dead_lettered']}, lost {summary['posts']['lost']}, "
                  f"windows {summary['windows_emitted']} → {summary_json}")


def run_demo(args: argparse.Namespace) -> int:
    """`monitor up` with the synthetic source (injected spikes) and a local webhook receiver, then an account of
    every post produced."""
    console = Console()
    from monitor.score.text_model import DEFAULT_ARTEFACT, TextSentimentModel

    if args.scorer != "vader" and not TextSentimentModel.available(DEFAULT_ARTEFACT):
        console.print("[yellow]no trained text model in the repository: the demo scores with the VADER baseline "
                      "(run `monitor train text` to build one)[/yellow]")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    receiver, secret = _start_receiver(console)
    logs = Path(args.log_dir)
    stack: Stack | None = None
    col: Collector | None = None
    worker_rc: int | None = None
    try:
        stack = start_stack(console.print, logs, overrides=demo_overrides(receiver.url, secret),
                            ui_port=getattr(args, "ui_port", 0), metrics_port=args.metrics_port,
                            scorer=args.scorer, worker_loglevel="info")
        col = Collector(stack.settings)
        col.start()
        wall_total = args.duration or 3600.0
        opts = synthetic_options(args, wall_total)
        spec = stream_spec(opts)
        counts_file = logs / "synthetic-counts.json"
        counts_file.unlink(missing_ok=True)
        source = stack.add_source(1, args_for(opts), ["--counts-file", str(counts_file)])
        _run_stream(args, stack, source, spec, wall_total, col, stop, console)
        source.stop(timeout=90.0)  # the stream first: its counts file is written on stop
        produced = json.loads(counts_file.read_text()) if counts_file.is_file() else {"produced": 0}
        if source.restarts or not counts_file.is_file():  # a crashed source's counts are gone: say so, fail
            produced["incomplete"] = True
            console.print("[red]the synthetic source died during the run: its produced counts are incomplete[/red]")
        console.print(f"stream stopped: {produced['produced']} produced; draining (Ctrl-C again stops waiting)...")
        stop.clear()
        _drain(col, produced["produced"], stop)
        time.sleep(2.5)  # last watermark tick and window closes
        console.print(view(col, spec.spikes, spec.start_ms, produced["produced"]))
    finally:
        if stack is not None:
            worker_rc = next((c.stop() for c in stack.sup.children if c.name == "worker"), None)
            stack.stop()
        if col is not None:
            col.stop_evt.set()
            col.join(5)
        receiver.close()
    summary = build_summary(col, spec, produced, worker_rc)
    summary["webhook"] = {"received": len(receiver.received), "bad_signatures": receiver.bad_signatures,
                          "statuses": [a["status"] for p in receiver.received for a in p.get("alerts", [])]}
    args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, args.summary_json, console)
    return exit_code(summary)


def exit_code(summary: dict[str, Any]) -> int:
    """1 when a produced post is neither scored nor dead-lettered, when more posts were accounted for than
    produced, or when the source's counts are incomplete."""
    p = summary["posts"]
    return 0 if p["lost"] == 0 and not p["counts_incomplete"] and not p.get("unexplained_extra") else 1


def alert_summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per incident (fingerprint): topic, startsAt, endsAt (None while firing), peak rate, score."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        a = out.setdefault(r["fingerprint"], {"topic": r["topic"], "signal": r["signal"], "startsAt": r["startsAt"], "endsAt": None,
                                              "peak_rate": 0.0, "score": 0.0, "baseline_rate": r["baseline_rate"]})
        a["peak_rate"] = max(a["peak_rate"], r["peak_rate"], r["observed_rate"])
        a["score"] = max(a["score"], r["peak_score"], r["score"])
        if r["status"] == "resolved":
            a["endsAt"] = r["endsAt"]
    return list(out.values())


def build_summary(col: Collector, spec: StreamSpec, produced: dict[str, int], worker_rc: int | None
                  ) -> dict[str, Any]:
    with col.lock:
        scored = len(col.scored_ids)
        dlq = sum(col.dlq.values())
        series = {
            topic: [{"start_ms": w["start_ms"], "n": w["n"], "negatives": w["negatives"],
                     "negative_rate": round(w["negative_rate"], 4)} for w in ws if w["kind"] == "tumbling"]
            for topic, ws in col.windows.items()
        }
        n_windows = sum(len(ws) for ws in col.windows.values())
        return {
            "posts": {"produced": produced["produced"], "valid": produced.get("valid", 0),
                      "invalid": produced.get("invalid", 0), "scored": scored, "scored_records": col.scored_records,
                      "dead_lettered": dlq, "lost": max(0, produced["produced"] - scored - dlq),
                      # more scored + dead-lettered posts than produced: the accounting itself is wrong
                      "unexplained_extra": max(0, scored + dlq - produced["produced"]),
                      "counts_incomplete": bool(produced.get("incomplete"))},
            "labels": dict(col.labels),
            "models": dict(col.models),
            "dead_letter_reasons": dict(col.dlq),
            "dead_letter_other_records": dict(col.dlq_other),
            "windows_emitted": n_windows,
            "negative_rate_series": series,
            "injected_spikes": [{"topic": s.topic, "start_ms": spec.start_ms + int(s.start_s * 1000),
                                 "end_ms": spec.start_ms + int((s.start_s + s.duration_s) * 1000),
                                 "negative_share": s.neg} for s in spec.spikes],
            "alerts": alert_summary(col.alerts),
            "worker_exit_code": worker_rc,
        }
