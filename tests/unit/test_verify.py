from monitor.verify import account


def rec(i, topics, minute, label="negative"):
    return {"id": f"p{i}", "topics": topics, "event_ms": minute * 60_000 + i, "label": label}


def win(topic, minute, n, unscored=0):
    return {"topic": topic, "kind": "tumbling", "start_ms": minute * 60_000, "n": n, "unscored": unscored}


def test_all_accounted():
    scored = [rec(1, ["A"], 0), rec(2, ["A", "B"], 0), rec(3, ["A"], 1)]
    rep = account(["p1", "p2", "p3", "p4"], scored + [scored[0]], [{"post_id": "p4", "reason": "schema"}],
                  [win("A", 0, 2), win("B", 0, 1), win("A", 1, 1), win("A", 1, 1)])
    assert (rep["produced"], rep["scored"], rep["dead_lettered"], rep["lost"]) == (4, 3, 1, 0)
    assert rep["duplicate_deliveries"] == 1
    assert rep["double_counted"] == 0 and rep["missed_in_windows"] == 0 and rep["conflicting_window_emissions"] == 0


def test_lost_double_and_missed_detected():
    scored = [rec(1, ["A"], 0), rec(2, ["A"], 0), rec(3, ["B"], 0)]
    rep = account(["p1", "p2", "p3", "p9"], scored, [], [win("A", 0, 3), win("B", 0, 0), win("C", 5, 1)])
    assert rep["lost"] == 1 and rep["lost_ids"] == ["p9"]
    assert rep["double_counted"] == 1 + 1  # one extra in A, one in a window with no scored post
    assert rep["missed_in_windows"] == 1  # B's post not counted


def test_anonymous_invalid_messages():
    rep = account(["p1"], [rec(1, ["A"], 0)], [{"post_id": None, "reason": "invalid_json"}], [win("A", 0, 1)],
                  anonymous_invalid=2)
    assert rep["produced"] == 3 and rep["dead_lettered"] == 1 and rep["lost"] == 1
