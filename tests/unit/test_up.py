"""`monitor up`'s pure parts: sources file -> `monitor ingest` arguments, validation, restart pauses."""

import sys
import time
from pathlib import Path

import pytest

from monitor.up import Child, Supervisor, UpError, load_sources, restart_pause, source_args, validate


def test_source_entries_become_ingest_arguments():
    assert source_args({"type": "rss", "feeds": ["a", "b"], "interval": 60}) == \
        ["rss", "--feed", "a", "--feed", "b", "--interval", "60"]
    assert source_args({"type": "bluesky", "cashtags": ["TSLA", "NVDA"], "max_posts": 5}) == \
        ["bluesky", "--cashtags", "TSLA,NVDA", "--max-posts", "5"]
    assert source_args({"type": "mastodon", "base": "https://m.social", "local": True, "hashtag": None}) == \
        ["mastodon", "--base", "https://m.social", "--local"]
    with pytest.raises(UpError, match="type: one of"):
        source_args({"feed": "x"})


def test_sources_file_is_checked_by_the_real_parser(tmp_path: Path):
    f = tmp_path / "s.yaml"
    f.write_text("sources:\n  - type: http\n    port: 8099\n  - type: reddit\n    subreddits: stocks\n"
                 "settings:\n  window_s: 300\n")
    sources, settings = load_sources(f)
    assert validate(sources)[1] == ["reddit", "--subreddits", "stocks"] and settings == {"window_s": 300}
    f.write_text("sources:\n  - type: reddit\n    interval: soon\n")
    with pytest.raises(UpError, match=r"source 1 \(reddit\)"):
        validate(load_sources(f)[0])
    f.write_text("- just a list\n")
    with pytest.raises(UpError, match="mapping"):
        load_sources(f)


def test_restart_pause_grows_and_is_capped():
    assert [restart_pause(n) for n in (1, 2, 3, 6, 20)] == [2, 4, 8, 60, 60]


def test_a_dead_child_is_restarted_after_its_pause(tmp_path: Path):
    said: list[str] = []
    sup = Supervisor(said.append)
    c = sup.add(Child("flaky", [sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path / "c.log"))
    c.proc.wait(10)
    sup.tick(100.0)
    assert c.restarts == 1 and "flaky exited with 3: restarting in 2 s" in said[0]
    first = c.proc
    sup.tick(101.0)
    assert c.proc is first  # still pausing
    sup.tick(102.5)
    assert c.proc is not first
    c.proc.wait(10)
    time.sleep(0.1)
    sup.stop()


def test_the_synthetic_source_is_a_source_like_the_others():
    """The demo's stream runs as `monitor ingest synthetic` under `monitor up` (one code path, #31)."""
    from monitor.synth.source import SyntheticOptions, args_for

    [cmd] = validate([{"type": "synthetic", "rate": 100, "speedup": 1, "spikes_over": 600, "replay_bluesky": True}])
    assert cmd == ["synthetic", "--rate", "100", "--speedup", "1", "--spikes-over", "600", "--replay-bluesky"]
    opts = SyntheticOptions(rate=20, speedup=10, seed=3, start_ms=1_700_000_000_000, spikes_over_s=60)
    assert validate([{"type": "synthetic"}]) and args_for(opts)[0] == "synthetic"
    from monitor.cli import build_parser

    parsed = build_parser().parse_args(["ingest", *args_for(opts)])
    assert (parsed.rate, parsed.speedup, parsed.seed, parsed.start_ms, parsed.spikes_over) == \
        (20.0, 10.0, 3, 1_700_000_000_000, 60.0)


def test_synthetic_stream_is_paced_in_compressed_event_time_and_counts_what_it_sends():
    import threading

    from monitor.synth.source import SyntheticOptions, run_synthetic, stream_spec

    opts = SyntheticOptions(rate=200, speedup=100, seed=1, start_ms=1_700_000_000_000, duration_s=1.0)
    spec = stream_spec(opts)
    sent: list[tuple[str | None, bytes]] = []
    t0 = time.monotonic()
    produced = run_synthetic(opts, spec, lambda k, v: sent.append((k, v)), threading.Event())
    took = time.monotonic() - t0
    assert 0.9 < took < 10.0
    assert sum(produced.values()) == len(sent)
    assert 20 < len(sent) <= 200 * 1.0 + 5  # paced: never ahead of 200 posts per wall second (fewer on a busy CPU)
    assert produced["invalid"] > 0 and produced["valid"] > produced["invalid"]


def test_demo_fails_when_a_post_is_unaccounted_for_or_its_counts_are_incomplete():
    from monitor.demo import Collector, build_summary, exit_code
    from monitor.synth.stream import StreamSpec

    col = Collector.__new__(Collector)  # the view's state only: no consumer thread
    Collector.__init__(col, None)  # type: ignore[arg-type]
    col.scored_ids = {"a", "b", "c"}
    col.dlq.update({"schema": 1})
    spec = StreamSpec()
    ok = build_summary(col, spec, {"produced": 4, "valid": 3, "invalid": 1}, 0)
    assert ok["posts"]["lost"] == 0 and exit_code(ok) == 0
    lost = build_summary(col, spec, {"produced": 5, "valid": 4, "invalid": 1}, 0)
    assert lost["posts"]["lost"] == 1 and exit_code(lost) == 1
    extra = build_summary(col, spec, {"produced": 3, "valid": 2, "invalid": 1}, 0)  # more accounted than sent
    assert extra["posts"]["unexplained_extra"] == 1 and exit_code(extra) == 1
    partial = build_summary(col, spec, {"produced": 4, "incomplete": True}, 0)
    assert partial["posts"]["counts_incomplete"] and exit_code(partial) == 1


def test_a_wildcard_bind_advertises_an_address_clients_can_reach():
    import socket

    from monitor.broker import EmbeddedBroker, advertised_host

    assert advertised_host("0.0.0.0") == socket.gethostname() != "0.0.0.0"
    assert advertised_host("127.0.0.1") == "127.0.0.1"
    b = EmbeddedBroker("0.0.0.0", 9999)
    assert b.bootstrap == f"{socket.gethostname()}:9999"
    assert EmbeddedBroker("0.0.0.0", 9999, advertise="kafka.local").bootstrap == "kafka.local:9999"


def test_a_child_that_finishes_on_purpose_is_not_restarted(tmp_path: Path):
    said: list[str] = []
    sup = Supervisor(said.append)
    c = sup.add(Child("once", [sys.executable, "-c", "pass"], {}, tmp_path / "c.log"))
    c.proc.wait(10)
    first = c.proc
    for t in (100.0, 200.0, 400.0):
        sup.tick(t)
    assert c.finished and c.proc is first and c.restarts == 0 and "once finished (exit 0)" in said[0]


def test_demo_counts_a_dead_lettered_post_once_and_only_raw_posts():
    from monitor.config import Settings
    from monitor.demo import Collector

    col = Collector(Settings.load(None, env={}))
    raw = col.s.topic_raw
    col._dead_letter({"reason": "schema", "source_topic": raw, "partition": 0, "offset": 5})
    col._dead_letter({"reason": "schema", "source_topic": raw, "partition": 0, "offset": 5})  # after a restart
    col._dead_letter({"reason": "schema", "source_topic": raw, "partition": 1, "offset": 5})
    col._dead_letter({"reason": "alert_delivery_failed", "source_topic": "alerts", "partition": 0, "offset": 1})
    assert sum(col.dlq.values()) == 2 and col.dlq_other == {"alert_delivery_failed": 1}
