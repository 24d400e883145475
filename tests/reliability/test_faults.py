"""Fault injection against the real broker and real worker processes. Target: lost = 0, double_counted = 0."""

import json
import random
import threading
import time
import uuid

import pytest

from monitor.app import bytopic_name
from monitor.broker import free_port
from monitor.config import Settings
from monitor.kafka_io import create_topics, produce_raw, read_all
from monitor.synth.replay import produce_paced
from monitor.verify import account
from tests.integration.helpers import INVALID, closer, make_posts

from .conftest import Timer, add_entry, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.reliability]


def fresh(broker, **kw) -> Settings:
    tag = uuid.uuid4().hex[:6]
    s = Settings.load(None, env={}, bootstrap_servers=broker.bootstrap, app_id=f"rel-{tag}", partitions=2,
                      topic_raw=f"raw-{tag}", topic_scored=f"scored-{tag}", topic_dlq=f"dlq-{tag}",
                      topic_windows=f"windows-{tag}", topic_alerts=f"alerts-{tag}", scorer="vader", grace_s=10, **kw)
    create_topics(s, extra=[bytopic_name(s)])
    return s


def run_stream(s, posts, invalid, disrupt, workers, env=None):
    """Produce posts (paced) while `disrupt(first_worker)` runs; return the verifier's account."""
    items = [*posts[: len(posts) // 2], *[(None, v) for v, _ in invalid], *posts[len(posts) // 2:]]
    with Timer() as t:
        w1 = workers(s, env_extra=env)
        prod = threading.Thread(target=produce_paced, args=(s.bootstrap_servers, s.topic_raw, items, 100.0))
        prod.start()
        assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_scored)) >= 20, 90), w1.log
        w2 = disrupt(w1)
        prod.join()
        produce_raw(s.bootstrap_servers, s.topic_raw, [closer()])
        ids = {pid for pid, _ in posts}
        n_invalid = len(invalid)

        def settled():
            sc = read_all(s.bootstrap_servers, s.topic_scored)
            dl = read_all(s.bootstrap_servers, s.topic_dlq)
            return (sc, dl) if ids <= {r["value"]["id"] for r in sc} | {r["value"].get("post_id") for r in dl} \
                and len({(r["partition"], r["offset"]) for r in dl}) >= n_invalid else None

        res = wait_until(settled, 150, 1.0)
        scored, dlq = res if res else (read_all(s.bootstrap_servers, s.topic_scored),
                                       read_all(s.bootstrap_servers, s.topic_dlq))
        keys = {(t, v["value"]["event_ms"] // 60_000 * 60_000) for v in scored for t in v["value"]["topics"]
                if t != "zz-closer"}
        wait_until(lambda: keys <= {(w["value"]["topic"], w["value"]["start_ms"])
                                    for w in read_all(s.bootstrap_servers, s.topic_windows)}, 60)
        windows = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_windows)]
    with_ids = [i for i in (_id_of(v) for v, _ in invalid) if i]
    acc = account(list(ids) + with_ids, [r["value"] for r in scored],
                  [r["value"] for r in dlq], windows, anonymous_invalid=len(invalid) - len(with_ids),
                  skip_topics=["zz-closer"])
    acc["duration"] = t.seconds
    if w2 is not None and w2.proc.poll() is None:
        acc["rereads"] = _metric(w2, "monitor_ingest_rereads_total")
    if acc.get("short_windows") and w2 is not None and w2.proc.poll() is None:
        # diagnosis of a window that never closed: the survivor's watermark, late events, lane lag
        acc["survivor_metrics"] = [line for line in w2.metrics().splitlines() if line.startswith(
            ("monitor_watermark", "monitor_late_events", "monitor_lane_lag", "monitor_consumer_lag"))]
    if acc.get("short_windows"):
        acc["last_ticks"] = last_ticks(s)
        if w2 is not None and w2.log is not None:
            acc["survivor_log_tail"] = w2.log.read_text(errors="replace").splitlines()[-80:]
    return acc


def last_ticks(s) -> list[dict]:
    """The last watermark tick each ingest worker sent to each aggregation partition (what closes windows)."""
    last: dict = {}
    for r in read_all(s.bootstrap_servers, bytopic_name(s)):
        v = r["value"]
        if isinstance(v, dict) and "tick" in v:
            last[(v["src"], r["partition"])] = {"src": v["src"], "partition": r["partition"], "offset": r["offset"],
                                                "parts": v["parts"], "idle": v["idle"]}
    return list(last.values())


def _id_of(raw: bytes) -> str | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None


def test_kill9_restart_random_moments(broker, workers, report):
    rng = random.Random(2024)
    accounts = []
    for trial in range(5):
        s = fresh(broker)

        def disrupt(w1, s=s):
            time.sleep(rng.uniform(0.0, 2.0))
            w1.kill9()
            return workers(s)

        accounts.append(run_stream(s, make_posts(300, seed=trial, prefix=f"t{trial}-"), INVALID[:4], disrupt, workers))
    add_entry(report, "kill -9 mid-stream + restart", 5, accounts)
    assert all(a["lost"] == 0 and a["double_counted"] == 0 and a["missed_in_windows"] == 0 for a in accounts), \
        [{k: v for k, v in a.items() if k != "lost_ids"} for a in accounts]


def test_two_workers_one_killed(broker, workers, report):
    s = fresh(broker)

    def disrupt(w1):
        w2 = workers(s)
        assert wait_until(lambda: b"Setting newly assigned" in w2.log.read_bytes(), 60)
        time.sleep(1.0)
        w1.kill9()

    acc = run_stream(s, make_posts(400, seed=7, prefix="two-"), INVALID[:4], disrupt, workers)
    add_entry(report, "two workers, one killed (takeover)", 1, [acc])
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc


def test_sigterm_graceful(broker, workers, report):
    s = fresh(broker)

    def disrupt(w1):
        w1.stop()
        assert w1.proc.returncode == 0
        workers(s)

    acc = run_stream(s, make_posts(300, seed=8, prefix="term-"), INVALID[:4], disrupt, workers)
    add_entry(report, "SIGTERM graceful shutdown + restart", 1, [acc])
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc


def test_scorer_exception_on_one_post(broker, workers, report):
    s = fresh(broker)
    posts = make_posts(200, seed=9, prefix="fault-")
    bad = {"id": "fault-BOOM", "created_at": json.loads(posts[0][1])["created_at"], "text": "$AAPL xBOOMx"}
    posts.insert(50, (bad["id"], json.dumps(bad).encode()))
    acc = run_stream(s, posts, [], lambda w1: None, workers, env={"MONITOR_FAULT_SCORER_MARKER": "xBOOMx"})
    add_entry(report, "scorer exception on one post", 1, [acc])
    dlq = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_dlq)]
    assert [(d["post_id"], d["reason"]) for d in dlq] == [("fault-BOOM", "scorer_error")]
    assert acc["lost"] == 0 and acc["scored"] == len(posts) - 1 and acc["double_counted"] == 0, acc


def test_broker_unreachable_at_start(broker, workers, report):
    from tests.integration.test_health import get

    s = fresh(broker).model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with Timer() as t:
        w = workers(s)
        assert wait_until(lambda: get(w.metrics_port, "/healthz")[0] == 200, 20)
        assert get(w.metrics_port, "/readyz")[0] == 503
        assert wait_until(lambda: w.log.read_bytes().count(b"unreachable") >= 2, 30)  # retries, clear error
        assert w.proc.poll() is None
    report.append({"name": "broker unreachable at start", "trials": 1, "produced": 0, "lost": 0,
                   "double_counted": 0, "dlq": 0, "duration": t.seconds, "readyz": 503,
                   "missed_in_windows": None})  # no posts: windows not measured


def duplicate_deliveries(receiver) -> int:
    """Webhook deliveries of a state change already received (at-least-once: a request that timed out on our side
    may still have been processed; receivers dedupe on fingerprint + status). Measured, not assumed."""
    return len(receiver.received) - len({(p["fingerprint"], p["status"]) for p in receiver.received})


def _alert_run(broker, workers, receiver, hooks_extra=None, env_extra=None):
    from tests.integration.test_alerts import spike_stream

    s = fresh(broker)
    hooks = [{"url": receiver.url, "secret": "k", "format": "raw", "name": "rel", **(hooks_extra or {})}]
    env = {"MONITOR_DETECT_WARMUP_WINDOWS": "5", "MONITOR_ALERT_RESOLVE_WINDOWS": "1",
           "MONITOR_WEBHOOKS": json.dumps(hooks), **(env_extra or {})}
    w = workers(s, env_extra=env)
    stream = spike_stream()
    produce_raw(s.bootstrap_servers, s.topic_raw, [*stream, closer()])
    return s, w, len(stream) + 1


def test_webhook_down_for_a_while_then_up(broker, workers, report):
    from monitor.alert.receiver import WebhookReceiver

    receiver = WebhookReceiver(secret="k")
    receiver.down = True
    with Timer() as t:
        s, w, n = _alert_run(broker, workers, receiver)
        assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_alerts)) >= 2, 120), w.log
        assert wait_until(lambda: receiver.requests >= 3, 60)  # refused and retried
        receiver.down = False
        alerts = {(r["value"]["fingerprint"], r["value"]["status"]) for r in read_all(s.bootstrap_servers, s.topic_alerts)}
        got = wait_until(lambda: {(p["fingerprint"], p["status"]) for p in receiver.received} >= alerts, 90)
    receiver.close()
    lost = len(alerts - {(p["fingerprint"], p["status"]) for p in receiver.received})
    report.append({"name": "webhook receiver down, then up", "trials": 1, "produced": len(alerts), "lost": lost,
                   "double_counted": duplicate_deliveries(receiver), "dlq": 0, "duration": t.seconds,
                   "alerts_delivered": len(receiver.received), "missed_in_windows": None})  # alerts only
    assert got and lost == 0


def test_slow_webhook_does_not_block_the_pipeline(broker, workers, report):
    from monitor.alert.receiver import WebhookReceiver

    receiver = WebhookReceiver(secret="k", delay_s=3.0)  # slower than the target's 1 s timeout
    with Timer() as t:
        s, w, n = _alert_run(broker, workers, receiver, {"timeout_s": 1.0})
        assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_alerts)) >= 1, 120), w.log
        # the pipeline keeps scoring while deliveries time out and back off
        more = make_posts(100, seed=21, prefix="slow-")
        produce_raw(s.bootstrap_servers, s.topic_raw, more)
        ids = {pid for pid, _ in more}
        scored = wait_until(lambda: ids <= {r["value"]["id"] for r in read_all(s.bootstrap_servers, s.topic_scored)}, 60)
        timeouts_seen = receiver.requests
        receiver.delay_s = 0.0
        alerts = {(r["value"]["fingerprint"], r["value"]["status"]) for r in read_all(s.bootstrap_servers, s.topic_alerts)}
        got = wait_until(lambda: {(p["fingerprint"], p["status"]) for p in receiver.received} >= alerts, 120)
    receiver.close()
    report.append({"name": "slow webhook (timeouts, backoff)", "trials": 1, "produced": len(alerts),
                   "lost": len(alerts - {(p["fingerprint"], p["status"]) for p in receiver.received}),
                   "double_counted": duplicate_deliveries(receiver), "dlq": 0, "duration": t.seconds,
                   "timed_out_requests": timeouts_seen, "missed_in_windows": None})  # alerts only
    assert scored, "pipeline blocked by a slow webhook"
    assert timeouts_seen >= 1 and got


def test_kill9_after_caught_up_then_one_post(broker, workers, report):
    """The signature of the random-moments failures: the first worker scores (and commits) the whole stream, is
    killed, and the restarted worker's only new input is the post that should close the last windows."""
    s = fresh(broker)
    posts = make_posts(120, seed=11, prefix="cu-")
    produce_raw(s.bootstrap_servers, s.topic_raw, posts)
    w1 = workers(s)
    assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_scored)) >= len(posts), 120), w1.log
    # scenario shaping, not synchronisation: give w1 a commit interval so that, as in the failing trials, the
    # restarted worker usually has nothing to re-read but the closer (the checks hold whether or not it committed)
    time.sleep(s.commit_interval_s + 1.0)
    w1.kill9()
    produce_raw(s.bootstrap_servers, s.topic_raw, [closer()])
    w2 = workers(s)
    scored = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_scored)]
    keys = {(t, v["event_ms"] // 60_000 * 60_000) for v in scored for t in v["topics"]}
    ok = wait_until(lambda: keys <= {(w["value"]["topic"], w["value"]["start_ms"])
                                     for w in read_all(s.bootstrap_servers, s.topic_windows)}, 90)
    closers = [r for r in read_all(s.bootstrap_servers, s.topic_scored) if r["value"]["id"].startswith("closer")]
    assert ok, (closers, last_ticks(s), w2.log.read_text()[-3000:])


def _dropped_record_run(broker, workers, env: dict, n: int, seed: int, prefix: str, rereads_metric: str):
    """Posts + the closer produced up front, one worker with a fault-injection drop and a 5 s stall: wait until
    every post is scored and every window closed; return the worker's log, the verifier's account (with the
    re-read count from `rereads_metric`)."""
    s = fresh(broker)
    posts = make_posts(n, seed=seed, prefix=prefix)
    produce_raw(s.bootstrap_servers, s.topic_raw, [*posts, closer()])
    with Timer() as t:
        w = workers(s, env_extra={**env, "MONITOR_INGEST_STALL_S": "5"})
        ids = {pid for pid, _ in posts} | {"closer-zz-closer"}
        assert wait_until(lambda: ids <= {r["value"]["id"] for r in read_all(s.bootstrap_servers, s.topic_scored)},
                          120), w.log.read_text()[-3000:]
        scored = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_scored)]
        keys = {(tp, v["event_ms"] // 60_000 * 60_000) for v in scored for tp in v["topics"] if tp != "zz-closer"}
        assert wait_until(lambda: keys <= {(x["value"]["topic"], x["value"]["start_ms"])
                                           for x in read_all(s.bootstrap_servers, s.topic_windows)}, 60), \
            w.log.read_text()[-3000:]
    windows = [r["value"] for r in read_all(s.bootstrap_servers, s.topic_windows)]
    acc = account(list(ids), scored, [], windows, skip_topics=["zz-closer"])
    acc["duration"] = t.seconds
    acc["rereads"] = _metric(w, rereads_metric)
    return w.log.read_text(), acc, windows, w


def test_record_dropped_before_the_stage_is_reread(broker, workers, report):
    """The crash race's mechanism, injected: the restarted worker's consumer reads the last post (the one that
    closes the last windows) but it never reaches the ingest stage and is never acknowledged (what Faust did to a
    record fetched while its recovery finished). The stage's progress sees a partition whose records it never
    finished and re-reads it: the post is scored, its windows close, the re-read is counted."""
    log, acc, _, _ = _dropped_record_run(broker, workers, {"MONITOR_FAULT_DROP_RAW_MARKER": "closer-zz-closer"},
                                         60, 12, "dr-", "monitor_ingest_rereads_total")
    assert "fault injection: dropped raw record" in log and "re-reading from offset" in log, log[-3000:]
    add_entry(report, "record dropped before the ingest stage (re-read)", 1, [acc])
    assert acc["rereads"] == 1, acc
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc


def test_bytopic_record_dropped_holds_its_windows_until_reread(broker, workers, report):
    """The CI failure of test_kill9_and_restart (a window emitted 8 posts short, only for `_all`: one by-topic
    record missing) injected: the aggregation stage never receives one by-topic record of `_all` and it is never
    acknowledged, while the records after it (watermark ticks included) arrive. The stage holds that partition's
    windows, the partition is re-read from the hole, and the windows close with every post."""
    log, acc, _, _ = _dropped_record_run(broker, workers, {"MONITOR_FAULT_DROP_BYTOPIC_KEY": "_all"}, 80, 13,
                                         "db-", "monitor_aggregate_rereads_total")
    assert "fault injection: dropped by-topic record" in log and "holding its windows" in log, log[-3000:]
    add_entry(report, "by-topic record dropped before the aggregation stage (held, re-read)", 1, [acc])
    assert acc["rereads"] >= 1, acc
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc


def _metric(w, name: str) -> float:
    return sum(float(line.split()[-1]) for line in w.metrics().splitlines() if line.startswith(name))


def test_alert_record_dropped_before_delivery_is_reread_in_order(broker, workers, report):
    """The crash race on the alerts topic, injected: the delivery stage never receives the firing alert and it is
    never acknowledged (what Faust did to a record fetched while a restart's recovery finished). The delivery
    stage takes a partition's alerts in offset order: the resolved one is held, the partition re-read from the
    missing offset, and the webhook gets firing, then resolved."""
    from monitor.alert.receiver import WebhookReceiver

    receiver = WebhookReceiver(secret="k")
    with Timer() as t:
        s, w, n = _alert_run(broker, workers, receiver, env_extra={"MONITOR_FAULT_DROP_ORDERED_STAGE": "deliver",
                                                                   "MONITOR_INGEST_STALL_S": "5"})
        assert wait_until(lambda: len(read_all(s.bootstrap_servers, s.topic_alerts)) >= 2, 120), w.log
        alerts = [(r["value"]["fingerprint"], r["value"]["status"]) for r in read_all(s.bootstrap_servers,
                                                                                     s.topic_alerts)]
        got = wait_until(lambda: {(p["fingerprint"], p["status"]) for p in receiver.received} >= set(alerts), 90)
    receiver.close()
    log = w.log.read_text()
    delivered = [(p["fingerprint"], p["status"]) for p in receiver.received]
    rereads = _metric(w, 'monitor_ordered_rereads_total{stage="deliver"}')
    in_order = [d for d in delivered if d in alerts] == alerts
    report.append({"name": "alert record dropped before delivery (held, re-read)", "trials": 1,
                   "produced": len(alerts), "lost": len(set(alerts) - set(delivered)), "delivered_in_order": in_order,
                   "double_counted": duplicate_deliveries(receiver), "dlq": 0, "duration": t.seconds,
                   "rereads_per_trial": [rereads], "missed_in_windows": None})  # alerts only
    assert "fault injection: dropped deliver record" in log, log[-3000:]
    assert got, (alerts, delivered, log[-3000:])
    assert in_order, (alerts, delivered)  # in the order they were published
    assert rereads >= 1


def test_window_record_dropped_before_detection_is_reread_in_order(broker, workers, report):
    """The same on the windows topic: the detection stage never receives the first closed window. It holds the
    windows after it, the partition is re-read, and every tumbling window on the topic is evaluated exactly once."""
    log, acc, s_windows, w = _dropped_record_run(broker, workers, {"MONITOR_FAULT_DROP_ORDERED_STAGE": "detect"},
                                                 60, 14, "dw-", 'monitor_ordered_rereads_total{stage="detect"}')
    tumbling = sum(1 for x in s_windows if x["kind"] == "tumbling")
    assert wait_until(lambda: _metric(w, "monitor_detect_windows_total") >= tumbling, 30)
    evaluated = _metric(w, "monitor_detect_windows_total")
    acc["rereads"] = _metric(w, 'monitor_ordered_rereads_total{stage="detect"}')  # after the held windows went on
    acc["windows_evaluated"], acc["tumbling_windows"] = evaluated, tumbling
    add_entry(report, "window record dropped before detection (held, re-read)", 1, [acc],
              {"windows_evaluated": evaluated, "tumbling_windows": tumbling})
    assert "fault injection: dropped detect record" in log, log[-3000:]
    assert acc["rereads"] >= 1, acc
    assert evaluated == tumbling, acc
    assert acc["lost"] == 0 and acc["double_counted"] == 0 and acc["missed_in_windows"] == 0, acc
