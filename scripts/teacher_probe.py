"""Is all-mpnet-base-v2 a useful distillation teacher for the text model?  (#14, item 1; a study, not the product)

The teacher the issue names is a sentence-embedding model, not a sentiment classifier: to give soft labels it needs a
head. On these CPUs it cannot be fine-tuned (~8.5x MiniLM's cost per text), so the teacher studied here is
frozen mpnet embeddings + a multinomial logistic-regression head fitted on the train files. Distillation only pays
if that teacher (or its average with the shipped student) is better than the student on dev.

    python scripts/teacher_probe.py encode --model /path/to/all-mpnet-base-v2 --social 12000
    python scripts/teacher_probe.py fit --out docs/results/text-teacher-probe.json

`encode` writes embeddings of every dev text, every financial train text and a seeded sample of the social train
texts (the same v1 normaliser the shipped model uses) to .cache/teacher/ (git-ignored), for mpnet and for the
wheel's MiniLM (the frozen-encoder reference). `fit` chooses the head's C on the dev selection score (dev only:
train files are never scored), then reports dev per domain for: frozen MiniLM + LR, frozen mpnet + LR (the
teacher), the shipped student, and the student-teacher average with a weight fixed beforehand (0.5).
The decision rule, fixed before the run: a distillation run is worth its CPU time only if the teacher or the
average beats the student's dev selection score by >= 0.01.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from monitor import LABELS
from monitor.training.metrics import classification_report
from monitor.training.text_data import Example, load_splits
from monitor.training.text_train import selection_score

CACHE = Path(".cache/teacher")
DEV_NAMES = ("tweets_sentiment_dev", "fin_tweets_dev", "fin_phrasebank_dev")
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
AVG_WEIGHT = 0.5  # student-teacher average: fixed before the run, not tuned on dev
MIN_GAIN = 0.01


def _sets(social: int, seed: int) -> dict[str, list[Example]]:
    train, dev = load_splits(None, seed=13)
    rng = random.Random(seed)
    soc = list(train["social"])
    rng.shuffle(soc)
    out = {"train_social": soc[:social], "train_fin_tweets": train["fin_tweets"], "train_fin_news": train["fin_news"]}
    out.update({n: dev[n] for n in DEV_NAMES})
    return out


def encode(args: argparse.Namespace) -> None:
    from sentence_transformers import SentenceTransformer

    from monitor.score.text_model import base_model_path
    from monitor.score.text_norm import normaliser

    norm = normaliser("v1")
    sets = _sets(args.social, args.seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    encoders = {"minilm": str(base_model_path()), "mpnet": args.model}
    timing: dict[str, Any] = {}
    for enc_name, path in encoders.items():
        model = SentenceTransformer(path, device="cpu")
        for set_name, exs in sets.items():
            f = CACHE / f"{enc_name}-{set_name}.npz"
            if f.exists():
                continue
            t0 = time.perf_counter()
            emb = model.encode([norm(e.text) for e in exs], batch_size=64, show_progress_bar=True,
                               normalize_embeddings=True, convert_to_numpy=True)
            dt = time.perf_counter() - t0
            np.savez(f, x=emb.astype(np.float32), y=np.array([e.label for e in exs], dtype=np.int64))
            timing[f"{enc_name}-{set_name}"] = {"n": len(exs), "seconds": round(dt, 1),
                                                "texts_per_s": round(len(exs) / dt, 1)}
            print(enc_name, set_name, timing[f"{enc_name}-{set_name}"], flush=True)
        del model
    tf = CACHE / "timing.json"
    old = json.loads(tf.read_text()) if tf.exists() else {}
    old.update(timing)
    tf.write_text(json.dumps(old, indent=1))


def _load(enc: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    z = np.load(CACHE / f"{enc}-{name}.npz")
    return z["x"], z["y"]


def _reports(probs: dict[str, np.ndarray], ys: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {n: classification_report(ys[n].tolist(), probs[n].argmax(1).tolist(), LABELS, probs[n])
            for n in DEV_NAMES}


def _head(enc: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from sklearn.linear_model import LogisticRegression

    parts = [_load(enc, f"train_{d}") for d in ("social", "fin_tweets", "fin_news")]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    # a domain flag per row so one head can shift its prior per domain (like the student's domain mix)
    dom = np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(parts)])
    dev_dom = {"tweets_sentiment_dev": 0, "fin_tweets_dev": 1, "fin_phrasebank_dev": 2}

    def feats(xx: np.ndarray, d: int | np.ndarray) -> np.ndarray:
        oh = np.zeros((len(xx), 3), dtype=np.float32)
        oh[np.arange(len(xx)), d] = 1.0
        return np.hstack([xx, oh])

    dev = {n: _load(enc, n) for n in DEV_NAMES}
    grid = []
    best: tuple[float, float, dict[str, np.ndarray]] | None = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        clf.fit(feats(x, dom), y)
        probs = {n: clf.predict_proba(feats(dev[n][0], dev_dom[n])) for n in DEV_NAMES}
        s = selection_score(_reports(probs, {n: dev[n][1] for n in DEV_NAMES}))
        grid.append({"C": c, "dev_selection": round(s, 4)})
        print(enc, "C", c, "dev selection", round(s, 4), flush=True)
        if best is None or s > best[0]:
            best = (s, c, probs)
    assert best is not None
    return {"n_train": int(len(y)), "grid": grid, "C": best[1]}, best[2]


def _student_probs(texts: dict[str, list[str]]) -> dict[str, np.ndarray]:
    from monitor.score.text_model import TextSentimentModel

    m = TextSentimentModel(device="cpu", backend="torch")
    return {n: m.predict_proba(t).numpy() for n, t in texts.items()}


def fit(args: argparse.Namespace) -> None:
    _, dev = load_splits(None, seed=13)
    ys = {n: np.array([e.label for e in dev[n]]) for n in DEV_NAMES}
    for n in DEV_NAMES:  # the cache must be of these very dev sets
        assert np.array_equal(_load("mpnet", n)[1], ys[n]), n
    rows: dict[str, Any] = {}
    probs_by: dict[str, dict[str, np.ndarray]] = {}
    for enc in ("minilm", "mpnet"):
        info, probs = _head(enc)
        probs_by[enc] = probs
        rows[f"frozen_{enc}_lr"] = {**info, "dev": _reports(probs, ys)}
    student = _student_probs({n: [e.text for e in dev[n]] for n in DEV_NAMES})
    rows["student_shipped"] = {"dev": _reports(student, ys)}
    avg = {n: AVG_WEIGHT * student[n] + (1 - AVG_WEIGHT) * probs_by["mpnet"][n] for n in DEV_NAMES}
    rows["student_teacher_avg"] = {"weight_student": AVG_WEIGHT, "dev": _reports(avg, ys)}
    for r in rows.values():
        r["dev_selection"] = round(selection_score(r["dev"]), 4)
        r["headline"] = {
            "tweets_sentiment_dev_macro_recall": round(r["dev"]["tweets_sentiment_dev"]["macro_recall"], 4),
            "fin_tweets_dev_accuracy": round(r["dev"]["fin_tweets_dev"]["accuracy"], 4),
            "fin_phrasebank_dev_macro_f1": round(r["dev"]["fin_phrasebank_dev"]["macro_f1"], 4),
        }
    s_student = rows["student_shipped"]["dev_selection"]
    gain = max(rows["frozen_mpnet_lr"]["dev_selection"], rows["student_teacher_avg"]["dev_selection"]) - s_student
    timing = json.loads((CACHE / "timing.json").read_text()) if (CACHE / "timing.json").exists() else {}
    report = {
        "command": "python scripts/teacher_probe.py encode ... && python scripts/teacher_probe.py fit",
        "data": "dev sets only are scored: " + ", ".join(f"{n} ({len(ys[n])})" for n in DEV_NAMES),
        "device": "cpu (2 cores)",
        "models": rows,
        "encode_timing": timing,
        "decision_rule": f"distil only if teacher or student-teacher average beats the student by >= {MIN_GAIN}",
        "gain_over_student": round(gain, 4),
        "distillation_worth_running": bool(gain >= MIN_GAIN),
    }
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{'model':24s} {'sel':>6s} {'TE mR':>6s} {'FT acc':>6s} {'PB mF1':>6s}")
    for k, r in rows.items():
        h = r["headline"]
        print(f"{k:24s} {r['dev_selection']:6.3f} {h['tweets_sentiment_dev_macro_recall']:6.3f} "
              f"{h['fin_tweets_dev_accuracy']:6.3f} {h['fin_phrasebank_dev_macro_f1']:6.3f}")
    print("gain over student", round(gain, 4), "-> distil" if gain >= MIN_GAIN else "-> not worth a run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode")
    e.add_argument("--model", required=True, help="folder of all-mpnet-base-v2 (unzipped from the PyPI part wheels)")
    e.add_argument("--social", type=int, default=12000, help="social train texts to sample")
    e.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fit")
    f.add_argument("--out", default="docs/results/text-teacher-probe.json")
    a = ap.parse_args()
    encode(a) if a.cmd == "encode" else fit(a)


if __name__ == "__main__":
    main()
