"""#31 items 2, 3, 6 without a broker: grouped help, --version, help and defaults on every option, README commands
that exist, one-line errors with the right exit codes, connector retries, readable tables."""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from monitor.broker import free_port
from monitor.cli import GROUPS, Formatter, build_parser, main
from monitor.inspect import (
    alert_cells,
    clip,
    pct,
    post_cells,
    post_matches,
    same_topic,
    span,
    when,
    window_cells,
    window_matches,
)
from monitor.verify import account_ids, report_text

ROOT = Path(__file__).resolve().parents[2]
KNOWN_README_GAPS: set[tuple[str, str]] = set()  # README and the parser agree: every command and flag exists


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)


def all_parsers(p: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, p)]
    sub = subparsers(p)
    for name, child in (sub.choices.items() if sub else []):
        out += all_parsers(child, f"{path} {name}".strip())
    return out


# ---- help ---------------------------------------------------------------------------------------------------------
def test_help_lists_every_command_once_under_its_group_in_order():
    text = build_parser().format_help()
    heads = [m.group(1) for m in re.finditer(r"^(\w+) commands.*:$", text, re.M)]
    assert heads[:4] == ["run", "inspect", "models", "operate"], text
    listed = re.findall(r"^  ([a-z][a-z-]*) ", text.split("run commands")[1], re.M)
    top = set(subparsers(build_parser()).choices)
    assert sorted(listed) == sorted(top), (listed, top)  # each command once, none hidden
    for group, _, cmds in GROUPS:
        block = text.split(f"{group} commands")[1].split("\n\n")[0]
        assert [c for c in listed if f"\n  {c} " in block] == [c for c in cmds if c in top], group
    assert "{" not in text.split("options:")[0]  # argparse's unordered {train,eval,...} list is gone


def test_version_is_the_installed_distribution():
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"monitor {version('monitor')}", res


def test_every_option_has_help_text_and_shows_its_default():
    missing, no_default = [], []
    for path, p in all_parsers(build_parser()):
        assert p.formatter_class is Formatter, path
        assert p.format_help(), path  # renders: a bare % in a help text raises here
        fmt = p._get_formatter()
        for a in p._actions:
            if not a.option_strings or isinstance(a, argparse._HelpAction | argparse._VersionAction):
                continue
            if not a.help or a.help.strip() == a.dest.replace("_", " "):  # none, or only its own name
                missing.append((path, a.option_strings[-1]))
            elif a.default not in (None, False, "", [], argparse.SUPPRESS) and \
                    "default" not in fmt._get_help_string(a).lower():
                no_default.append((path, a.option_strings[-1]))
    assert not missing and not no_default, (missing, no_default)
    ui = subparsers(build_parser()).choices["ui"]
    assert "(default: 8090)" in " ".join(ui.format_help().split())


def test_debug_is_accepted_before_and_after_the_command():
    p = build_parser()
    assert p.parse_args(["--debug", "alerts", "list"]).debug is True
    assert p.parse_args(["alerts", "list", "--debug"]).debug is True
    assert p.parse_args(["alerts", "list"]).debug is False


def readme_commands() -> list[str]:
    spans = []
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `monitor"):
            cell = re.split(r"(?<!\\)\|", line)[1]
            spans += [s.replace("\\|", "|") for s in re.findall(r"`(monitor [^`]*)`", cell)]
    return spans


def readme_gaps(spans: list[str]) -> set[tuple[str, str]]:
    """(command, flag or 'command') pairs the README writes that the parser lacks."""
    gaps: set[tuple[str, str]] = set()
    for text in spans:
        toks, parsers, i = text.split()[1:], [("", build_parser())], 0
        while i < len(toks) and all(subparsers(p) for _, p in parsers) and re.fullmatch(
                r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", toks[i]):
            nxt = []
            for path, p in parsers:
                for alt in toks[i].split("|"):
                    choices = subparsers(p).choices
                    if alt in choices:
                        nxt.append((f"{path} {alt}".strip(), choices[alt]))
                    else:
                        gaps.add((f"{path} {alt}".strip(), "command"))
            parsers, i = nxt, i + 1
        for path, p in parsers:
            gaps |= {(path, f) for f in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text)
                     if f not in p._option_string_actions}
    return gaps


def test_readme_gap_finder_catches_a_missing_command_and_flag():
    assert readme_gaps(["monitor alerts list --json --nope", "monitor nosuch --x"]) == {
        ("alerts list", "--nope"), ("nosuch", "command")}
    assert readme_gaps(["monitor eval faces|voice --data D --json"]) == set()


def test_every_command_and_flag_in_the_readme_table_exists():
    spans = readme_commands()
    assert len(spans) >= 30, spans  # the table was found
    gaps = readme_gaps(spans)
    assert gaps <= KNOWN_README_GAPS, sorted(gaps - KNOWN_README_GAPS)


# ---- errors -------------------------------------------------------------------------------------------------------
def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("monitor: error: ") and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def test_unreachable_broker_is_one_line_exit_1_and_debug_shows_the_traceback():
    port = free_port()
    t0 = time.monotonic()
    res = cli("alerts", "list", "--bootstrap-servers", f"127.0.0.1:{port}")
    assert res.returncode == 1 and time.monotonic() - t0 < 20
    line = one_error_line(res)
    assert f"cannot reach a Kafka broker at 127.0.0.1:{port}" in line and "monitor broker" in line
    res = cli("--debug", "posts", "tail", "--bootstrap-servers", f"127.0.0.1:{port}")
    assert res.returncode == 1 and "Traceback" in res.stderr and "BrokerUnreachable" in res.stderr


def test_missing_file_is_one_line_exit_1():
    res = cli("topics", "create", "--config", "/nonexistent/monitor.yaml")
    assert res.returncode == 1
    assert "/nonexistent/monitor.yaml: no such file" in one_error_line(res)


@pytest.mark.parametrize("argv, env", [(["ui", "--host", "0.0.0.0"], "MONITOR_UI_TOKEN"),
                                       (["ingest", "http", "--host", "0.0.0.0"], "MONITOR_INGEST_TOKEN")])
def test_public_bind_without_token_is_bad_usage(argv, env, tmp_path):
    res = cli(*argv, "--bootstrap-servers", f"127.0.0.1:{free_port()}", env={env: ""})
    assert res.returncode == 2 and res.stdout == ""
    line = one_error_line(res)
    assert "binding 0.0.0.0 (not loopback) needs --token" in line and f"${env}" in line


def test_token_flag_conflict_and_argparse_errors_exit_2():
    f = Path(__file__)
    assert one_error_line(res := cli("ui", "--token", "a", "--token-file", str(f))) and res.returncode == 2
    res = cli("alerts", "list", "--no-such-flag")
    assert res.returncode == 2 and "unrecognized arguments" in res.stderr


def test_error_line_names_what_and_what_to_do():
    from kafka.errors import KafkaTimeoutError

    from monitor.cli import error_line
    from monitor.inspect import TopicMissing

    args = argparse.Namespace(cmd="verify", bootstrap_servers="k:9092", config=None)
    line = error_line(KafkaTimeoutError("Unable to bootstrap from k:9092"), args)
    assert line.startswith("monitor: error: Kafka at k:9092 did not answer in time") and "monitor broker" in line
    line = error_line(TopicMissing("topic x does not exist on k:9092"), args)
    assert "monitor topics create --bootstrap-servers k:9092" in line
    line = error_line(ValueError("hop_step_s (7) must be\n a multiple"), args)
    assert "\n" not in line and line.endswith("See `monitor verify --help`.")


def test_connector_retries_an_unreachable_broker_with_one_line_per_attempt(tmp_path):
    port = free_port()
    t0 = time.monotonic()
    res = cli("ingest", "rss", "--feed", "http://127.0.0.1:9/feed.xml", "--bootstrap-servers", f"127.0.0.1:{port}",
              "--checkpoint", str(tmp_path / "cp.json"), "--duration", "4")
    took = time.monotonic() - t0
    lines = res.stderr.splitlines()
    attempts = [x for x in lines if f"Kafka broker 127.0.0.1:{port} unreachable" in x]
    assert res.returncode == 1 and took < 20, res.stderr
    assert lines[0].startswith("monitor ingest rss: 1 feed(s) -> posts.raw on 127.0.0.1:")  # the start summary
    assert len(attempts) >= 2 and "attempt 1; retrying in 1 s" in attempts[0] and "attempt 2" in attempts[1]
    assert lines[-1].startswith("monitor: error: cannot reach a Kafka broker") and "Traceback" not in res.stderr
    assert len(lines) == len(attempts) + 2, res.stderr  # nothing else: no kafka-python chatter


def test_connector_keeps_kafka_python_at_warning_unless_debug():
    import logging

    from monitor.cli.sources import configure_logging

    kafka = logging.getLogger("kafka")
    try:
        kafka.setLevel(logging.NOTSET)
        configure_logging(build_parser().parse_args(["ingest", "rss", "--feed", "u", "--loglevel", "debug"]))
        assert kafka.level == logging.WARNING
        kafka.setLevel(logging.NOTSET)
        configure_logging(build_parser().parse_args(["ingest", "rss", "--feed", "u", "--debug"]))
        assert kafka.level == logging.NOTSET
    finally:
        kafka.setLevel(logging.NOTSET)


# ---- readable output ----------------------------------------------------------------------------------------------
def test_times_percentages_durations():
    assert when(1764410400000) == "2025-11-29 10:00:00" == when("2025-11-29T10:00:00Z")
    assert when("2025-11-29T11:00:00+01:00") == "2025-11-29 10:00:00" and when(None) == "-"
    assert pct(0.4213) == "42.1 %" and pct(None) == "-" and pct(True) == "-"
    assert [span(s) for s in (45, 180, 3900, 183600, None)] == ["45 s", "3 min", "1 h 5 min", "2 d 3 h", "-"]
    assert clip("a\nb  c", 10) == "a b c" and clip("x" * 20, 5) == "xxxx…"


ALERT = {"fingerprint": "f1", "topic": "ACME", "signal": "negative_rate", "status": "resolved",
         "startsAt": "2025-11-29T10:00:00Z", "endsAt": "2025-11-29T10:45:00Z",
         "window": {"start": "2025-11-29T10:44:00Z", "end": "2025-11-29T10:45:00Z", "n": 40, "negatives": 4},
         "observed_rate": 0.1, "baseline_rate": 0.085, "silenced": False,
         "summary": "negative share of ACME back to normal (10%, 4/40)"}


def test_alert_row_is_readable():
    cells = alert_cells(ALERT)
    assert cells[:8] == ["2025-11-29 10:45:00", "resolved", "ACME", "negative_rate", "10.0 %", "8.5 %",
                         "2025-11-29 10:00:00", "45 min"]
    vol = alert_cells({**ALERT, "signal": "volume", "status": "firing", "observed_rate": 91,
                       "baseline_rate": 21.6, "silenced": True})
    assert vol[:6] == ["2025-11-29 10:45:00", "firing (silenced)", "ACME", "volume", "91 posts", "~21.6"]


def test_post_and_window_rows_and_filters():
    post = {"id": "p", "topics": ["ACME", "brand"], "event_ms": 1764410400000, "source": "rss",
            "probs": {"negative": 0.91, "neutral": 0.05, "positive": 0.04}, "label": "negative", "text": "bad\nnews"}
    assert post_cells(post) == ["2025-11-29 10:00:00", "negative", "91.0 %", "ACME,brand", "rss", "bad\nnews"]
    assert post_matches(post, "$acme", "negative") and post_matches(post, "#brand", None)
    assert not post_matches(post, "ACME", "positive") and not post_matches(post, "OTHER", None)
    w = {"topic": "ACME", "kind": "tumbling", "start_ms": 1764410400000, "end_ms": 1764410460000, "n": 40,
         "negatives": 10, "neutrals": 20, "positives": 10, "negative_rate": 0.25, "mean_score": -0.1234,
         "unscored": 2}
    assert window_cells(w) == ["2025-11-29 10:00:00", "1 min", "ACME", "tumbling", 40, "25.0 %", 10, 20, 10, 2,
                               "-0.123"]
    assert window_matches(w, "acme") and not window_matches({**w, "kind": "hopping"}, "ACME")
    assert window_matches({**w, "kind": "hopping"}, None, "all") and same_topic("$ACME", "acme")


def test_verify_ids_reports_exactly_the_given_ids():
    scored = [{"id": "a", "label": "negative"}, {"id": "a", "label": "negative"}, {"id": "demo-1", "label": "neutral"}]
    rep = account_ids(["a", "b", "c"], scored, [{"post_id": "b", "reason": "schema"}, {"post_id": "demo-2"}])
    assert [p["id"] for p in rep["posts"]] == ["a", "b", "c"]
    assert (rep["produced"], rep["scored"], rep["dead_lettered"], rep["lost"], rep["duplicate_deliveries"]) == (
        3, 1, 1, 1, 1)
    text = report_text(rep)
    assert "demo" not in text and "c: lost" in text and "windows: not checked" in text


def _fake_topics(monkeypatch: pytest.MonkeyPatch, topics: dict[str, list[Any]]) -> None:
    import monitor.inspect
    import monitor.kafka_io

    monkeypatch.setattr(monitor.inspect, "require_broker", lambda *a, **k: None)
    monkeypatch.setattr(monitor.kafka_io, "read_all",
                        lambda b, topic, **k: [{"value": v} for v in topics.get(topic, [])])


def test_verify_json_is_json_and_text_is_not(monkeypatch, tmp_path, capsys):
    _fake_topics(monkeypatch, {"posts.scored": [{"id": "a", "label": "negative"}, {"id": "x", "label": "neutral"}]})
    ids = tmp_path / "ids.txt"
    ids.write_text("a\nb\n")
    assert main(["verify", "--ids", str(ids), "--json"]) == 1  # b is lost
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and [p["id"] for p in json.loads(out)["posts"]] == ["a", "b"]
    assert main(["verify", "--ids", str(ids)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("produced 2, scored 1, dead-lettered 0, lost 1") and "lost ids: b" in out


def test_silence_list_prints_readable_times(monkeypatch, capsys):
    from monitor import kafka_silences

    _fake_topics(monkeypatch, {})
    until = int(time.time() * 1000) + 2 * 3600_000 - 90_000
    monkeypatch.setattr(kafka_silences, "current", lambda s: {"SPK": {"until_ms": until, "created_by": "ops",
                                                                "comment": "recall"}})
    assert main(["silence", "list"]) == 0
    out = capsys.readouterr().out
    assert when(until) in out and str(until) not in out and "(1 h 58 min left)" in out


def test_new_cli_functions_stay_small():
    files = [ROOT / "monitor" / "inspect.py", *(ROOT / "monitor" / "cli" / f for f in
                                                ("__init__.py", "inspect.py", "stream.py", "sources.py"))]
    long = [(f.name, n.name) for f in files for n in ast.walk(ast.parse(f.read_text()))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > 80]
    assert not long, long


class FakeConsumer:
    """One partition holding `values`; what TopicReader uses of a kafka-python consumer."""

    def __init__(self, values: list[bytes]) -> None:
        from types import SimpleNamespace

        self.msgs = [SimpleNamespace(value=v, key=b"k", partition=0, offset=i, timestamp=0)
                     for i, v in enumerate(values)]
        self.pos, self.closed = 0, False

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: len(self.msgs) for tp in tps}

    def position(self, tp: Any) -> int:
        return self.pos

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        from kafka import TopicPartition

        if self.pos < len(self.msgs):
            batch, self.pos = self.msgs[self.pos:], len(self.msgs)
            return {TopicPartition("t", 0): batch}
        time.sleep(timeout_ms / 1000)
        return {}

    def close(self) -> None:
        self.closed = True


def test_topic_reader_stops_at_the_end_or_after_its_timeout():
    from kafka import TopicPartition

    from monitor.inspect import TopicReader

    values = [b'{"id": "a"}', b"not json", b'{"id": "b"}']
    t0 = time.monotonic()
    with TopicReader(fc := FakeConsumer(values), [TopicPartition("t", 0)], False, None) as r:
        got = [x["value"] for x in r]
    assert got == [{"id": "a"}, "not json", {"id": "b"}] and fc.closed and time.monotonic() - t0 < 5
    t0 = time.monotonic()
    got = list(TopicReader(FakeConsumer(values), [TopicPartition("t", 0)], True, 1.5))
    assert len(got) == 3 and 1.4 < time.monotonic() - t0 < 4  # follow: waited for more until the timeout
