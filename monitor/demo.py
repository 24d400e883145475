"""`monitor demo`: embedded broker + a worker process + a realistic replayed stream with injected spikes.

Prints a compact live view per topic and writes a summary JSON on exit (Ctrl-C or --duration).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from monitor.broker import EmbeddedBroker
from monitor.config import Settings
from monitor.harness import WorkerProcess
from monitor.kafka_io import create_topics, producer
from monitor.synth.stream import CPU_AUDIO_SHARE, CPU_IMAGE_SHARE, StreamSpec, demo_spikes, generate

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
        self.dlq: Counter[str] = Counter()
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
                            self.dlq[v["reason"]] += 1
                        elif tp.topic == self.s.topic_alerts:
                            self.alerts.append(v)
                        else:
                            self.windows[v["topic"]].append(v)
        c.close()


def source_replay() -> Any:
    """An endless iterator of functions event_ms -> (key, posts.raw value): the Bluesky connector's fixture frames
    (monitor/sources/fixtures/jetstream.jsonl) mapped by the connector's own mapper, re-timed onto the demo's
    event clock, ids suffixed per round so each replayed post is a new post."""
    import itertools

    from monitor.sources import bluesky

    frames = [json.loads(line) for line in (Path(bluesky.__file__).parent / "fixtures" / "jetstream.jsonl")
              .read_text().splitlines()]
    posts = []
    for f in frames:
        try:
            posts.append(bluesky.map_jetstream(f))
        except bluesky.NotAPost:
            continue
    for rnd in itertools.count():
        for p in posts:
            def make(event_ms: int, p: dict[str, Any] = p, rnd: int = rnd) -> tuple[str, bytes]:
                post = {**p, "id": f"{p['id']}#{rnd}", "created_at": event_ms}
                return post["id"], json.dumps(post).encode()
            yield make


def view(col: Collector, spikes: list[Any], start_ms: int, produced: int, top: int = 10) -> Table:
    t = Table(title=f"produced {produced} · scored {len(col.scored_ids)} · dead-lettered {sum(col.dlq.values())}",
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


@dataclass
class _Services:
    """What the demo starts and stops: the broker, the worker's settings, the webhook receiver, the worker process
    and the optional UI process."""

    broker: EmbeddedBroker
    settings: Settings
    receiver: WebhookReceiver
    worker: WorkerProcess
    ui: subprocess.Popen[bytes] | None


def _start_broker(args: argparse.Namespace, console: Console) -> tuple[EmbeddedBroker, Settings]:
    """The embedded broker, the demo's settings and its topics."""
    broker = EmbeddedBroker().start()
    console.print(f"embedded broker (Tansu) on {broker.bootstrap}")
    ui_port = getattr(args, "ui_port", 0)
    settings = Settings.load(None, bootstrap_servers=broker.bootstrap, metrics_port=args.metrics_port,
                             scorer=args.scorer, keywords=DEMO_KEYWORDS,
                             ui_base_url=f"http://127.0.0.1:{ui_port}" if ui_port else "")
    from monitor.app import bytopic_name

    create_topics(settings, extra=[bytopic_name(settings)])
    return broker, settings


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
    console.print(f"local webhook receiver on {receiver.url} (Alertmanager format, HMAC-signed)")
    return receiver, secret


def _start_worker(settings: Settings, receiver: WebhookReceiver, secret: str, log_path: Path) -> WorkerProcess:
    hooks = [{"url": receiver.url, "secret": secret, "format": "alertmanager", "name": "demo-receiver"}]
    # own session: Ctrl-C reaches the demo (which stops the stream and drains) but not the worker, which the demo
    # stops itself once every produced post is accounted for
    return WorkerProcess(settings, log_path, loglevel="info", own_session=True, env_extra={
        "MONITOR_WEBHOOKS": json.dumps(hooks), "MONITOR_KEYWORDS": json.dumps(DEMO_KEYWORDS),
        # the demo compresses ~40 event-minutes into 2 wall-minutes: a shorter detector warm-up
        "MONITOR_DETECT_WARMUP_WINDOWS": os.environ.get("MONITOR_DETECT_WARMUP_WINDOWS", "8"),
        "MONITOR_UI_BASE_URL": settings.ui_base_url})


def _start_ui(ui_port: int, bootstrap: str, log_path: Path, console: Console) -> subprocess.Popen[bytes] | None:
    if not ui_port:
        return None
    ui = subprocess.Popen([sys.executable, "-m", "monitor.cli", "ui", "--port", str(ui_port)],
                          env={**os.environ, "MONITOR_BOOTSTRAP_SERVERS": bootstrap},
                          stdout=subprocess.DEVNULL, stderr=open(log_path.with_suffix(".ui.log"), "wb"),  # noqa: SIM115
                          start_new_session=True)
    console.print(f"live topics and incident pages: http://127.0.0.1:{ui_port}/ (alerts link here)")
    return ui


def _start_services(args: argparse.Namespace, console: Console) -> _Services:
    broker, settings = _start_broker(args, console)
    receiver, secret = _start_receiver(console)
    log_path = Path(os.environ.get("MONITOR_DEMO_WORKER_LOG", "demo-worker.log"))
    log_path.unlink(missing_ok=True)
    worker = _start_worker(settings, receiver, secret, log_path)
    ui = _start_ui(getattr(args, "ui_port", 0), broker.bootstrap, log_path, console)
    console.print(f"worker pid {worker.pid} (log: {log_path}); metrics on http://127.0.0.1:{args.metrics_port}/metrics")
    return _Services(broker, settings, receiver, worker, ui)


def _demo_spec(args: argparse.Namespace, wall_total: float) -> StreamSpec:
    event_total = wall_total * args.speedup
    # media shares sized for a 2-core CPU: OCR costs ~1 s of CPU per image, ASR ~0.3 s per clip
    spec = StreamSpec(seed=args.seed, rate_per_event_s=args.rate / args.speedup, image_share=CPU_IMAGE_SHARE, audio_share=CPU_AUDIO_SHARE,
                      start_ms=int(time.time() * 1000 - event_total * 1000) // 60_000 * 60_000)
    spec.spikes = demo_spikes(event_total)
    return spec


def _stream(args: argparse.Namespace, svc: _Services, spec: StreamSpec, wall_total: float, col: Collector,
            stop: threading.Event, console: Console) -> tuple[Counter[str], float]:
    """Produce the synthetic stream (plus replayed connector posts) in event time compressed by --speedup, printing
    the live view every 5 s, until --duration, Ctrl-C or the worker's exit; returns the counts and the start time."""
    produced: Counter[str] = Counter()
    gen = generate(spec, 10**9)
    replay = source_replay() if getattr(args, "replay_source", "none") == "bluesky" else None
    prod = producer(svc.broker.bootstrap)
    t0 = time.monotonic()
    last_view = 0.0
    try:
        while not stop.is_set() and time.monotonic() - t0 < wall_total:
            item = next(gen)
            due = t0 + (item["event_ms"] - spec.start_ms) / 1000 / args.speedup
            while not stop.is_set() and time.monotonic() < due:
                time.sleep(min(0.05, max(0.0, due - time.monotonic())))
                if time.monotonic() - last_view > 5:
                    last_view = time.monotonic()
                    console.print(view(col, spec.spikes, spec.start_ms, sum(produced.values())))
            if stop.is_set() or time.monotonic() - t0 >= wall_total:
                break
            prod.send(svc.settings.topic_raw, key=item["key"].encode() if item["key"] else None, value=item["value"])
            produced["valid" if item["valid"] else "invalid"] += 1
            if replay and sum(produced.values()) % 50 == 0:
                key, value = next(replay)(item["event_ms"])
                prod.send(svc.settings.topic_raw, key=key.encode(), value=value)
                produced["valid"] += 1
            if svc.worker.poll() is not None:
                console.print("[red]worker exited unexpectedly[/red]")
                break
    finally:
        prod.flush()
        prod.close()
    return produced, t0


def _drain(col: Collector, total: int) -> None:
    """Wait while the worker makes progress (media posts are slow on a small CPU), at most 10 minutes, until every
    produced post is scored or dead-lettered."""
    last_done, last_progress, hard_deadline = -1, time.monotonic(), time.monotonic() + 600
    while time.monotonic() < hard_deadline and time.monotonic() - last_progress < 60:
        with col.lock:
            done = len(col.scored_ids) + sum(col.dlq.values())
        if done >= total:
            break
        if done != last_done:
            last_done, last_progress = done, time.monotonic()
        time.sleep(0.5)


def _stop_services(svc: _Services, col: Collector) -> None:
    svc.worker.stop()
    if svc.ui is not None:
        svc.ui.terminate()
        svc.ui.wait(10)
    col.stop_evt.set()
    col.join(5)
    svc.broker.stop()
    svc.receiver.close()


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
    console = Console()
    from monitor.score.text_model import DEFAULT_ARTEFACT, TextSentimentModel

    if args.scorer != "vader" and not TextSentimentModel.available(DEFAULT_ARTEFACT):
        console.print("[yellow]no trained text model in the repository: the demo scores with the VADER baseline "
                      "(run `monitor train text` to build one)[/yellow]")
    svc = _start_services(args, console)
    col = Collector(svc.settings)
    col.start()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    wall_total = args.duration or 3600.0
    spec = _demo_spec(args, wall_total)
    produced, t0 = _stream(args, svc, spec, wall_total, col, stop, console)
    total = sum(produced.values())
    console.print(f"stream stopped after {time.monotonic() - t0:.0f} s: {total} produced; draining...")
    _drain(col, total)
    time.sleep(2.5)  # last watermark tick and window closes
    console.print(view(col, spec.spikes, spec.start_ms, total))
    _stop_services(svc, col)
    summary = build_summary(col, spec, produced, svc.worker.proc.returncode)
    receiver = svc.receiver
    summary["webhook"] = {"received": len(receiver.received), "bad_signatures": receiver.bad_signatures,
                          "statuses": [a["status"] for p in receiver.received for a in p.get("alerts", [])]}
    args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, args.summary_json, console)
    return 0 if summary["posts"]["lost"] == 0 else 1


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


def build_summary(col: Collector, spec: StreamSpec, produced: Counter[str], worker_rc: int | None) -> dict[str, Any]:
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
            "posts": {"produced": sum(produced.values()), "valid": produced["valid"], "invalid": produced["invalid"],
                      "scored": scored, "scored_records": col.scored_records, "dead_lettered": dlq,
                      "lost": max(0, sum(produced.values()) - scored - dlq)},
            "labels": dict(col.labels),
            "models": dict(col.models),
            "dead_letter_reasons": dict(col.dlq),
            "windows_emitted": n_windows,
            "negative_rate_series": series,
            "injected_spikes": [{"topic": s.topic, "start_ms": spec.start_ms + int(s.start_s * 1000),
                                 "end_ms": spec.start_ms + int((s.start_s + s.duration_s) * 1000),
                                 "negative_share": s.neg} for s in spec.spikes],
            "alerts": alert_summary(col.alerts),
            "worker_exit_code": worker_rc,
        }
