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
