"""`monitor up`: the whole monitor on one machine — the embedded broker (or a Kafka cluster), the topics, a worker,
the live page and the source connectors listed in one YAML file — as one process tree that stops cleanly.

The sources file::

    sources:
      - type: rss
        feed: [https://example.com/markets.rss]
        interval: 120
      - type: http            # POST /ingest on 127.0.0.1:8088
        port: 8088
      - type: mastodon
        base: https://mastodon.social
        hashtag: stocks
      - type: reddit
        subreddits: wallstreetbets+stocks
      - type: bluesky
        cashtags: [TSLA, NVDA]   # keep only posts that mention one
      - type: synthetic          # the demo's stream (monitor/synth/source.py)
        rate: 20
        spikes_over: 600         # its three injected spikes spread over 10 minutes
    settings:                  # optional: any monitor setting (docs/configuration.md)
      window_s: 300

Each source runs as `monitor ingest <type> ...` (the keys are its command-line options: lists repeat the option,
`keywords` / `cashtags` / `accounts` are joined with commas), validated before anything starts. A child that exits
with an error is restarted with a growing pause; one that exits 0 by itself (`--duration`, `--max-posts`) is done. Ctrl-C stops the sources first (their checkpoints are written after
a broker flush), then the worker (it drains and commits), the page and the broker.

On the embedded broker nothing survives a stop: Tansu keeps every record in memory. Measured here (Tansu 0.6.0):
it neither honours `retention.ms` / `retention.bytes` nor answers Kafka `DeleteRecords` (it drops the connection),
so its memory grows with every record produced (`tests/integration/test_up.py::test_embedded_broker_cannot_trim`);
for an always-on monitor point `--bootstrap-servers` at Apache Kafka (deploy/), where retention bounds it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SOURCE_TYPES = ("bluesky", "mastodon", "reddit", "rss", "http", "synthetic")
COMMA_KEYS = ("keywords", "cashtags", "accounts")
ALIASES = {"feeds": "feed"}


class UpError(ValueError):
    """A sources file or option a person must fix (printed as one line, exit 2)."""


def source_args(spec: dict[str, Any]) -> list[str]:
    """`monitor ingest` arguments for one source entry (pure)."""
    if not isinstance(spec, dict) or spec.get("type") not in SOURCE_TYPES:
        raise UpError(f"each source needs `type: one of {', '.join(SOURCE_TYPES)}`, got {spec!r}")
    args = [spec["type"]]
    for key, value in spec.items():
        if key in ("type", "name"):
            continue
        opt = "--" + ALIASES.get(key, key).replace("_", "-")
        if key in COMMA_KEYS and isinstance(value, list):
            args += [opt, ",".join(str(v) for v in value)]
        elif isinstance(value, bool):
            if value:
                args.append(opt)
        elif isinstance(value, list):
            for v in value:
                args += [opt, str(v)]
        elif value is not None:
            args += [opt, str(value)]
    return args


def load_sources(path: Path | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(sources, settings overrides) from the YAML file; ([], {}) without one."""
    if path is None:
        return [], {}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UpError(f"cannot read the sources file {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sources", []), list):
        raise UpError(f"{path}: expected a mapping with a `sources:` list")
    extra = set(doc) - {"sources", "settings"}
    if extra:
        raise UpError(f"{path}: unknown top-level keys {sorted(extra)} (expected sources, settings)")
    return list(doc.get("sources") or []), dict(doc.get("settings") or {})


def validate(sources: list[dict[str, Any]]) -> list[list[str]]:
    """Every source's `monitor ingest` arguments, checked by the real parser (an error names the source)."""
    from monitor.cli import build_parser

    parser = build_parser()
    out = []
    for i, spec in enumerate(sources):
        args = source_args(spec)
        try:
            parser.parse_args(["ingest", *args, "--bootstrap-servers", "x:1"])
        except SystemExit:
            raise UpError(f"source {i + 1} ({spec.get('type')}): `monitor ingest {' '.join(args)}` is not valid "
                          f"(see `monitor ingest {spec.get('type')} --help`)") from None
        out.append(args)
    return out


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started: float = field(default=0.0)
    finished: bool = False  # exited 0 by itself: not restarted

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - owned by the child
        # own session: the terminal's Ctrl-C reaches `monitor up` only, which stops the children in order
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        from monitor.harness import stop_process

        return None if self.proc is None else stop_process(self.proc, timeout)


def restart_pause(restarts: int) -> float:
    """Seconds before restarting a child that died for the n-th time: 2, 4, 8 ... at most 60."""
    return float(min(60, 2 ** max(1, restarts)))


class Supervisor:
    """Starts children in order, restarts the ones that die, stops them in reverse order."""

    def __init__(self, say: Any) -> None:
        self.children: list[Child] = []
        self.say = say

    def add(self, child: Child) -> Child:
        child.start()
        self.children.append(child)
        return child

    def tick(self, now: float) -> None:
        for c in self.children:
            if c.alive() or c.proc is None or c.finished:
                continue
            if c.proc.returncode == 0 and c.next_start == 0.0:  # done on purpose (--duration, --max-posts)
                c.finished = True
                self.say(f"{c.name} finished (exit 0): not restarted")
                continue
            if c.next_start == 0.0:
                c.restarts += 1
                c.next_start = now + restart_pause(c.restarts)
                self.say(f"{c.name} exited with {c.proc.returncode}: restarting in "
                         f"{c.next_start - now:.0f} s (log: {c.log})")
            elif now >= c.next_start:
                c.next_start = 0.0
                c.start()

    def stop(self) -> None:
        for c in reversed(self.children):
            c.stop()


def child_env(bootstrap: str, overrides: dict[str, Any]) -> dict[str, str]:
    import json

    env = {**os.environ, "MONITOR_BOOTSTRAP_SERVERS": bootstrap}
    for k, v in overrides.items():
        env[f"MONITOR_{k.upper()}"] = v if isinstance(v, str) else json.dumps(v)
    return env


def python() -> list[str]:
    return [sys.executable, "-m", "monitor.cli"]


@dataclass
class Stack:
    """What `monitor up` and the demo run: the broker (embedded unless a cluster was named), the settings, the topics
    and the supervised children (page, worker, then the sources)."""

    broker: Any  # EmbeddedBroker | None
    bootstrap: str
    settings: Any  # Settings
    sup: Supervisor
    env: dict[str, str]
    logs: Path

    def add_source(self, i: int, cmd: list[str], extra: list[str] | None = None) -> Child:
        return self.sup.add(Child(f"source {i} ({cmd[0]})", [*python(), "ingest", *cmd, *(extra or []),
                                                             "--loglevel", "warning"],
                                  self.env, self.logs / f"source-{i}-{cmd[0]}.log"))

    def stop(self) -> None:
        self.sup.stop()
        if self.broker is not None:
            self.broker.stop()


def start_stack(say: Any, logs: Path, *, config: Path | None = None, bootstrap_servers: str | None = None,
                overrides: dict[str, Any] | None = None, ui_port: int = 0, metrics_port: int = 9108,
                scorer: str | None = None, worker_loglevel: str = "warning") -> Stack:
    """Broker, topics, page and worker, each child restarted if it dies; the caller adds the sources."""
    from monitor.app import bytopic_name
    from monitor.broker import EmbeddedBroker
    from monitor.config import Settings
    from monitor.kafka_io import create_topics

    overrides = dict(overrides or {})
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    if bootstrap_servers:
        bootstrap = bootstrap_servers
    else:
        broker = EmbeddedBroker(log_path=logs / "broker.log").start()
        bootstrap = broker.bootstrap
    sup = Supervisor(say)
    try:
        ui_url = f"http://127.0.0.1:{ui_port}" if ui_port else ""
        if ui_url:
            overrides["ui_base_url"] = ui_url
        settings = Settings.load(config, bootstrap_servers=bootstrap, **overrides)
        create_topics(settings, extra=[bytopic_name(settings)])
        env = child_env(bootstrap, overrides)
        if config:
            env["MONITOR_CONFIG"] = str(config)
        if ui_port:
            sup.add(Child("ui", [*python(), "ui", "--port", str(ui_port)], env, logs / "ui.log"))
        worker_env = {**env, "MONITOR_METRICS_PORT": str(metrics_port)}
        if scorer:
            worker_env["MONITOR_SCORER"] = scorer
        sup.add(Child("worker", [*python(), "worker", "--loglevel", worker_loglevel], worker_env,
                      logs / "worker.log"))
    except BaseException:
        sup.stop()
        if broker is not None:
            broker.stop()
        raise
    say(f"broker {bootstrap} ({'embedded Tansu: nothing survives a stop' if broker else 'external'})")
    if ui_port:
        say(f"live page {ui_url}/ (incident pages: alerts link there)")
    say(f"worker metrics http://127.0.0.1:{metrics_port}/metrics; logs in {logs}/")
    return Stack(broker, bootstrap, settings, sup, env, logs)


def run_up(args: Any) -> int:
    """The `monitor up` command (see the module docstring)."""

    def say(line: str) -> None:
        print(f"monitor up: {line}", flush=True)

    sources, overrides = load_sources(args.sources)
    commands = validate(sources)
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("now", True))
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("now", True))
    stack = start_stack(say, Path(args.log_dir), config=args.config, bootstrap_servers=args.bootstrap_servers,
                        overrides=overrides, ui_port=args.ui_port, metrics_port=args.metrics_port,
                        scorer=args.scorer)
    try:
        for i, cmd in enumerate(commands, start=1):
            stack.add_source(i, cmd)
            say(f"source {i}: monitor ingest {' '.join(cmd)}")
        say("Ctrl-C stops everything")
        t0 = time.monotonic()
        while not stop["now"] and not (args.duration and time.monotonic() - t0 >= args.duration):
            stack.sup.tick(time.monotonic())
            time.sleep(0.5)
    finally:
        say("stopping: sources, worker, page, broker")
        stack.stop()
    return 0
