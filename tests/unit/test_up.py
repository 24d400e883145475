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
