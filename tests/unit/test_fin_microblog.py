"""#33.4: the rules that label finance chatter, the checked set they produced, and its report."""

import numpy as np

from monitor.training.fin_microblog import DEV_FILE, cues, evaluate, read_set, rule_label


def test_rules_read_trader_jargon_both_ways():
    assert rule_label("loaded up on $SPY puts for Monday") == "negative"
    assert rule_label("$GME to the moon 🚀🚀") == "positive"
    assert rule_label("bagholders crying again $AMC") == "negative"
    assert rule_label("$AAPL new all time highs pre-market") == "positive"
    assert rule_label("Short $TSLA here, PT 180") == "negative"


def test_rules_leave_out_both_sides_and_the_earnings_call():
    assert rule_label("$AAPL puts working, $MSFT calls working") is None  # both sides
    assert rule_label("$MSFT earnings call at 5pm ET") is None
    assert rule_label("Quarterly dividend declared $MO") is None
    assert cues("Google, Zynga rally as Amazon plunges") == (["rally"], ["plunge"])


def test_checked_set_is_balanced_and_each_label_agrees_with_its_rule():
    rows = read_set(DEV_FILE)
    assert len(rows) >= 200
    counts = {lab: sum(r["label"] == lab for r in rows) for lab in ("negative", "positive")}
    assert min(counts.values()) >= 100, counts
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:  # the hand check only removed posts: every kept label is its rule's
        assert rule_label(r["text"]) == r["label"], r


def test_report_counts_where_the_misses_go():
    rows = [{"label": "negative", "cues": "puts", "text": "a"}, {"label": "negative", "cues": "plunge", "text": "b"},
            {"label": "positive", "cues": "moon", "text": "c"}, {"label": "positive", "cues": "soar", "text": "d"}]
    probs = np.array([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    rep = evaluate(rows, probs)
    assert rep["all"]["accuracy"] == 0.5
    assert rep["all"]["negative"]["called_neutral"] == 0.5 and rep["all"]["positive"]["called_negative"] == 0.5
    assert rep["jargon_cues"]["n"] == 2 and rep["jargon_cues"]["accuracy"] == 0.5
    assert rep["plain_cues"]["accuracy"] == 0.5


def test_the_sampling_that_was_read_by_hand_is_replayed_exactly():
    """Kept + rejected ids are exactly the 380 candidates `sample_for_review` draws from the stream."""
    import pytest

    from monitor.data import default_data_dir, read_tsv
    from monitor.training.fin_microblog import EVAL_DATA, sample_for_review

    stream = default_data_dir() / "streams" / "stocknet_dev" / "posts.jsonl.gz"
    if not stream.is_file():
        pytest.skip("no ../shared/data")
    drawn = [r["id"] for r in sample_for_review(stream)]
    kept = [r["id"] for r in read_set()]
    rejected = [r["id"] for r in read_tsv(EVAL_DATA / "fin_microblog_rejected.tsv")]
    assert len(drawn) == 380 and sorted(drawn) == sorted(kept + rejected)
