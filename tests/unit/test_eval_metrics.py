import json
import subprocess
import sys

import numpy as np
import pytest

from monitor.training.metrics import classification_report, expected_calibration_error

LABELS = ("negative", "neutral", "positive")


def test_report_by_hand():
    y = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 2, 0]
    r = classification_report(y, p, LABELS)
    assert r["n"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # negative: P=1/2 R=1/2; neutral: P=2/3 R=1; positive: P=1 R=1/2
    assert r["per_class"]["neutral"]["precision"] == pytest.approx(2 / 3)
    assert r["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    f1 = [0.5, 2 * (2 / 3) / (2 / 3 + 1), 2 * 0.5 / 1.5]
    assert r["macro_f1"] == pytest.approx(sum(f1) / 3)


def test_ece_by_hand():
    probs = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.2, 0.6, 0.2]])
    y = [0, 1, 1, 1]
    # bin of 0.9: accuracy 0.5 -> gap 0.4 (weight 1/2); bin of 0.6: accuracy 1.0 -> gap 0.4 (weight 1/2)
    assert expected_calibration_error(probs, y) == pytest.approx(0.4)


def test_eval_text_cli_on_tiny_tsv(tmp_path):
    tsv = tmp_path / "tiny.tsv"
    tsv.write_text("id\tlabel\ttext\n1\tpositive\tI love this, wonderful and great!\n"
                   "2\tnegative\tThis is terrible, awful, I hate it.\n3\tneutral\tThe meeting is on Tuesday.\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "text", "--data", str(tsv), "--model", "vader",
                          "--json", "--plot", str(tmp_path / "cm.png")], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    assert {"n", "accuracy", "macro_recall", "macro_f1", "ece", "per_class", "confusion"} <= set(r)
    assert r["n"] == 3 and r["accuracy"] == 1.0
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_eval_text_rejects_bad_labels(tmp_path):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text("label\ttext\nbullish\tto the moon\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "text", "--data", str(tsv), "--model", "vader"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "bullish" in out.stderr


def test_eval_text_compare_prints_both_models_side_by_side(tmp_path):
    """`--compare previous` evaluates the model the packaged one replaced on the same file (its figures differ)."""
    from monitor.score.text_model import PREVIOUS_ARTEFACT, TextSentimentModel

    if not TextSentimentModel.available(PREVIOUS_ARTEFACT):
        pytest.skip("no previous text artefact shipped")
    tsv = tmp_path / "tiny.tsv"
    tsv.write_text("label\ttext\npositive\tI love this, wonderful and great!\n"
                   "negative\tThis is terrible, awful, I hate it.\nneutral\tThe meeting is on Tuesday.\n"
                   "negative\t$TSLA guidance cut, shares slide\n")
    cmd = [sys.executable, "-m", "monitor.cli", "eval", "text", "--data", str(tsv), "--model", "vader",
           "--compare", "previous"]
    r = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True).stdout)
    assert r["model"].startswith("vader") and len(r["compared"]) == 1
    other = r["compared"][0]
    assert other["model"] != r["model"] and set(other) == {"model", "accuracy", "macro_recall", "macro_f1", "ece"}
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "side by side (n=4)" in text and other["model"] in text
