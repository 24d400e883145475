"""`monitor compose posts` + `monitor eval posts`: composed multimodal posts go through the worker's scoring code."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_compose_and_eval_posts(tmp_path):
    data = tmp_path / "dev.jsonl"
    r = subprocess.run([sys.executable, "-m", "monitor.cli", "compose", "posts", "--split", "dev", "--n", "14",
                        "--out", str(data)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in data.read_text().splitlines()]
    assert len(lines) == 14 and {x["kind"] for x in lines} == {"text", "image_text", "image_only", "face", "speech",
                                                               "voice", "agree"}
    assert all(x["label"] in ("negative", "neutral", "positive") and x["id"] for x in lines)
    # one line the worker would dead-letter: counted as invalid, not scored
    data.write_text(data.read_text() + json.dumps({"id": "bad", "created_at": 0, "text": " ", "label": "neutral"})
                    + "\n")
    r = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "posts", "--data", str(data), "--json",
                        "--scorer", "vader"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert {"n", "accuracy", "macro_f1", "macro_recall", "per_class", "confusion", "ablation_text_only",
            "per_kind"} <= set(rep)
    assert rep["n"] == 14 and rep["invalid"] == {"no_content": 1}
    assert set(rep["per_kind"]) == {"text", "image_text", "image_only", "face", "speech", "voice", "agree"}
    assert {"accuracy", "macro_f1"} <= set(rep["ablation_text_only"])


@pytest.mark.slow
def test_eval_posts_metrics_on_a_tiny_hand_made_file(tmp_path):
    """Four text posts with obvious sentiment, one deliberately mislabelled: the metrics are known by hand."""
    from monitor.training.posts_eval import eval_posts

    rows = [("p1", "great wonderful gains, I love it", "positive", "text"),
            ("p2", "terrible awful crash, I hate this", "negative", "text"),
            ("p3", "terrible awful losses, I hate it", "negative", "text"),
            ("p4", "great wonderful news, love it", "negative", "text")]  # mislabelled on purpose
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps({"id": i, "created_at": 0, "text": t, "label": lab, "kind": k}) + "\n"
                            for i, t, lab, k in rows))
    rep = eval_posts(data, "vader")
    assert rep["n"] == 4 and rep["accuracy"] == pytest.approx(0.75)
    assert rep["confusion"][0] == [2, 0, 1] and rep["confusion"][2] == [0, 0, 1]  # rows: true neg / neu / pos
    assert rep["per_class"]["negative"]["recall"] == pytest.approx(2 / 3)
    assert rep["per_class"]["positive"]["precision"] == pytest.approx(0.5)
    assert rep["ablation_text_only"]["accuracy"] == pytest.approx(0.75) and rep["per_kind"]["text"]["n"] == 4
