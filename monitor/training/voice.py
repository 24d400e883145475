"""`monitor train voice` / `monitor eval voice`: vocal emotion on Emo-DB, validated leaving speakers out.

Features: monitor.media.prosody.features on clips decoded exactly as the worker decodes them (16 kHz mono).
Model: multinomial logistic regression with L2 (torch LBFGS) on standardised features. Speakers 03 and 08 are
held out (they are the composed multimodal dev set's voices, monitor.training.compose.DEV_SPEAKERS): model selection
(the L2 strength) and the LOSO figure come from leave-one-speaker-out cross-validation over the other speakers, the
temperature is fitted on their out-of-fold logits, the shipped model is fitted on them, and its accuracy on the
held-out speakers is reported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor.media.audio import decode_audio
from monitor.media.prosody import (
    DEFAULT_FEATURE_SET,
    DEFAULT_VOICE_ARTEFACT,
    EMODB_CLASSES,
    FEATURE_SETS,
    VoiceEmotionModel,
    feature_sets,
    features,
)
from monitor.training.metrics import classification_report, fit_temperature
from monitor.training.text_data import default_data_dir

DATA = default_data_dir() / "audio" / "emodb"


def load_clips(data_dir: Path, labels: Path | None = None) -> tuple[list[str], list[np.ndarray], list[str], list[str]]:
    labels = labels or data_dir / "labels.tsv"
    files, clips, emotions, speakers = [], [], [], []
    with open(labels, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            files.append(row["file"])
            clips.append(decode_audio((data_dir / row["file"]).read_bytes()))
            emotions.append(row["emotion"])
            speakers.append(row.get("speaker", ""))
    return files, clips, emotions, speakers


def feature_matrix(clips: list[np.ndarray], kind: str = "a1") -> np.ndarray:
    from tqdm import tqdm

    return np.stack([features(c, kind=kind) for c in tqdm(clips, desc="voice features", leave=False)])


def feature_matrices(clips: list[np.ndarray], kinds: tuple[str, ...] = FEATURE_SETS) -> dict[str, np.ndarray]:
    """Every candidate feature set from one analysis per clip."""
    from tqdm import tqdm

    rows = [feature_sets(c, kinds=kinds) for c in tqdm(clips, desc="voice features", leave=False)]
    return {k: np.stack([r[k] for r in rows]) for k in kinds}


def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y)
    w = torch.zeros(x.shape[1], k, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), x.std(axis=0) + 1e-6


def loso(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, l2: float, k: int) -> np.ndarray:
    """Out-of-fold logits, one fold per held-out speaker (scaler fitted on the training speakers only)."""
    logits = np.zeros((len(y), k))
    for spk in np.unique(speakers):
        te = speakers == spk
        mu, sd = standardise(x[~te])
        w, b = fit_logreg((x[~te] - mu) / sd, y[~te], l2, k)
        logits[te] = ((x[te] - mu) / sd) @ w + b
    return logits


L2_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def choose_feature_set(acc: dict[tuple[str, float], float], n: int,
                       default: str = DEFAULT_FEATURE_SET) -> tuple[str, float]:
    """Best (feature set, L2) by LOSO accuracy; the default feature set is replaced only by a candidate better by
    more than one standard error of an accuracy over n clips (smaller differences are noise on 6 speakers)."""
    kind, l2 = max(acc, key=lambda k: acc[k])
    base = [k for k in acc if k[0] == default]
    if not base:
        return kind, l2
    b = max(base, key=lambda k: acc[k])
    margin = float(np.sqrt(acc[b] * (1 - acc[b]) / n))
    return (kind, l2) if acc[kind, l2] - acc[b] > margin else b


def train_voice(out: Path = DEFAULT_VOICE_ARTEFACT, data_dir: Path = DATA,
                kinds: tuple[str, ...] = FEATURE_SETS) -> dict[str, Any]:
    """Select (feature set, L2) by leave-one-speaker-out accuracy over the training speakers, fit on all of them."""
    from monitor.training.compose import DEV_SPEAKERS

    files, clips, emotions, speakers = load_clips(data_dir)
    classes = EMODB_CLASSES
    y_all = np.array([classes.index(e) for e in emotions])
    spk_all = np.array(speakers)
    xs_all = feature_matrices(clips, kinds)
    held = np.isin(spk_all, sorted(DEV_SPEAKERS))
    y, spk = y_all[~held], spk_all[~held]
    grid: dict[tuple[str, float], tuple[float, np.ndarray]] = {}
    for kind in kinds:
        for l2 in L2_GRID:
            lg = loso(xs_all[kind][~held], y, spk, l2, len(classes))
            grid[kind, l2] = (float((lg.argmax(1) == y).mean()), lg)
            print(f"{kind} l2={l2:g}: leave-one-speaker-out accuracy {grid[kind, l2][0]:.4f}", flush=True)
    kind, best = choose_feature_set({k: a for k, (a, _) in grid.items()}, len(y))
    x_all = xs_all[kind]
    x = x_all[~held]
    oof = grid[kind, best][1]
    temp = fit_temperature(oof, y)
    probs = torch.softmax(torch.tensor(oof) / temp, -1).numpy()
    report = classification_report(y, probs.argmax(1), classes, probs)
    mu, sd = standardise(x)
    w, b = fit_logreg((x - mu) / sd, y, best, len(classes))
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "model.npz", mean=mu.astype(np.float32), std=sd.astype(np.float32),
                        w=w.astype(np.float32), b=b.astype(np.float32))
    candidates = {}
    for k in kinds:
        l2k = max(L2_GRID, key=lambda v, k=k: grid[k, v][0])
        lg = grid[k, l2k][1]
        mu_k, sd_k = standardise(xs_all[k][~held])
        wk, bk = fit_logreg((xs_all[k][~held] - mu_k) / sd_k, y, l2k, len(classes))
        hl = ((xs_all[k][held] - mu_k) / sd_k) @ wk + bk
        candidates[k] = {"n_features": int(xs_all[k].shape[1]), "l2": l2k, "loso_accuracy": grid[k, l2k][0],
                         "loso_macro_f1": classification_report(y, lg.argmax(1), classes)["macro_f1"],
                         "loso_per_speaker": {s_: float((lg.argmax(1)[spk == s_] == y[spk == s_]).mean())
                                              for s_ in sorted(set(spk))},
                         "heldout_accuracy": float((hl.argmax(1) == y_all[held]).mean())}
    held_probs = torch.softmax(torch.tensor((((x_all[held] - mu) / sd) @ w + b) / temp), -1).numpy()
    held_rep = classification_report(y_all[held], held_probs.argmax(1), classes, held_probs)
    meta = {"classes": list(classes), "temperature": temp, "l2": best, "version": "3", "features": kind,
            "n_features": int(x.shape[1]),
            "data": f"shared/data/audio/emodb: {len(y)} clips of {len(set(spk))} speakers for training; "
                    f"speakers {', '.join(sorted(DEV_SPEAKERS))} ({int(held.sum())} clips) held out",
            "validation": f"leave-one-speaker-out over the {len(set(spk))} training speakers; feature set and L2 "
                          f"chosen by it (another set than {DEFAULT_FEATURE_SET} only when better by more than one "
                          "standard error)",
            "loso_accuracy": report["accuracy"], "loso_macro_f1": report["macro_f1"], "loso_ece": report["ece"],
            "loso_per_speaker": candidates[kind]["loso_per_speaker"],  # the chosen L2 is its set's best
            "grid": {f"{k}/{v:g}": a for (k, v), (a, _) in grid.items()},
            "candidates": candidates,
            "heldout_speakers": sorted(DEV_SPEAKERS), "heldout_n": int(held.sum()),
            "heldout_accuracy": held_rep["accuracy"], "heldout_macro_f1": held_rep["macro_f1"],
            "per_class": report["per_class"], "confusion": report["confusion"]}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def eval_voice(data_dir: Path, labels: Path, model_dir: Path | None = None) -> dict[str, Any]:
    files, clips, emotions, _ = load_clips(data_dir, labels)
    m = VoiceEmotionModel(model_dir)
    unknown = sorted(set(emotions) - set(m.classes))
    if unknown:
        raise ValueError(f"{labels}: emotions {unknown} not in the model's classes {m.classes}")
    probs = m.predict_features(feature_matrix(clips, m.kind))
    y = [m.classes.index(e) for e in emotions]
    rep = classification_report(y, probs.argmax(1), m.classes, probs)
    rep["data"] = str(labels)
    rep["model"] = m.version
    return rep
