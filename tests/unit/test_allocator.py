"""The worker's allocator choice (monitor/memory.py use_allocator): a real re-exec of a real interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from monitor.memory import jemalloc_path

PROBE = ("import json, os; from monitor.memory import use_allocator; "
         "print(json.dumps({'pid': os.getpid(), 'got': use_allocator(%r), 'conf': os.environ.get('MALLOC_CONF')}))")


def probe(name: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    p = subprocess.Popen([sys.executable, "-c", PROBE % name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return p.pid, json.loads(out.strip().splitlines()[-1]), err


@pytest.mark.skipif(jemalloc_path() is None, reason="Debian libjemalloc2 not installed (scripts/system-deps.sh)")
def test_jemalloc_reexecs_the_same_process_with_jemalloc_and_its_decay_settings() -> None:
    pid, rec, _ = probe("jemalloc")
    assert rec["got"] == "jemalloc"
    assert rec["pid"] == pid  # execve: the supervisor's child is still the worker
    assert rec["conf"] == "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"


@pytest.mark.skipif(jemalloc_path() is None, reason="Debian libjemalloc2 not installed (scripts/system-deps.sh)")
def test_malloc_conf_from_the_environment_wins() -> None:
    import os

    _, rec, _ = probe("jemalloc", {**os.environ, "MALLOC_CONF": "dirty_decay_ms:5000"})
    assert rec == {**rec, "got": "jemalloc", "conf": "dirty_decay_ms:5000"}


def test_glibc_stays_on_glibc_without_a_reexec() -> None:
    pid, rec, err = probe("glibc")
    assert rec["got"] == "glibc" and rec["conf"] is None and rec["pid"] == pid and "allocator" not in err


def test_a_jemalloc_that_does_not_load_falls_back_to_glibc_with_one_warning() -> None:
    import os

    # the guard says a re-exec already happened and jemalloc is still not mapped: no second exec, a warning
    _, rec, err = probe("jemalloc", {**os.environ, "MONITOR_ALLOCATOR_EXEC": "1"})
    assert rec["got"] == "glibc"
    assert err.count("running on glibc malloc") == 1
