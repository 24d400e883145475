"""Voice study, round 2 (issue 14): a small log-mel CNN with SpecAugment, selected by leave-one-speaker-out (LOSO)
over the six training speakers of ../shared/data/audio/emodb; speakers 03 and 08 are held out and only reported.

Per clip: 64-band log-mel spectrogram (16 kHz, 25 ms window, 10 ms hop), normalised per utterance (mean and
standard deviation over the clip, per band: removes a speaker's and a microphone's average spectrum, keeps the
emotion's contour). Training crops 2.5 s at random (shorter clips are tiled), masks up to two frequency bands and two
time spans (SpecAugment), and mixes pairs (mixup, alpha 0.2). Evaluation averages the softmax over 2.5 s crops every
0.5 s. CNN: four conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool; 16-32-64-64 channels), global mean + max
pooling, dropout, linear to the 7 Emo-DB emotions (about 61 k parameters).

Also reported: the CNN's probabilities averaged with the shipped 186-d librosa feature model's (logistic
regression refitted per fold with the shipped model's L2 strength), the configuration the LOSO picks among
{features, CNN, average}.

  python scripts/voice_cnn_study.py --out docs/results/voice-cnn-study.json [--epochs 60] [--seeds 2] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

SR = 16_000
HOP = 160
CROP = 250  # frames: 2.5 s
STEP = 50  # evaluation crops every 0.5 s


def logmel(y: np.ndarray) -> np.ndarray:
    import librosa

    m = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=400, hop_length=HOP, n_mels=64, fmin=50, fmax=8000)
    x = np.log(m + 1e-6).astype(np.float32)
    return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-5)


def tile(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[1] >= n:
        return x
    reps = int(np.ceil(n / x.shape[1]))
    return np.tile(x, (1, reps))[:, :n]


def crops(x: np.ndarray) -> np.ndarray:
    x = tile(x, CROP)
    starts = list(range(0, x.shape[1] - CROP + 1, STEP)) or [0]
    return np.stack([x[:, s:s + CROP] for s in starts])


def make_net(k: int) -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [1, 16, 32, 64, 64]
            layers: list[nn.Module] = []
            for a, b in zip(chans, chans[1:], strict=False):
                layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]
            self.body = nn.Sequential(*layers)
            self.drop = nn.Dropout(0.3)
            self.head = nn.Linear(128, k)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x.unsqueeze(1))
            h = torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)
            return self.head(self.drop(h))

    return Net()


def spec_augment(x: Any, rng: np.random.Generator) -> Any:
    for i in range(x.shape[0]):
        for _ in range(2):
            f = int(rng.integers(0, 9))
            f0 = int(rng.integers(0, 64 - f))
            x[i, f0:f0 + f, :] = 0
            t = int(rng.integers(0, 26))
            t0 = int(rng.integers(0, CROP - t))
            x[i, :, t0:t0 + t] = 0
    return x


def train_cnn(mels: list[np.ndarray], y: np.ndarray, k: int, epochs: int, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = make_net(k)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    steps = epochs * int(np.ceil(len(mels) / 32))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    tiled = [tile(m, CROP) for m in mels]
    for _ in range(epochs):
        net.train()
        order = rng.permutation(len(mels))
        for b in range(0, len(order), 32):
            idx = order[b:b + 32]
            batch = []
            for i in idx:
                s = int(rng.integers(0, tiled[i].shape[1] - CROP + 1))
                batch.append(tiled[i][:, s:s + CROP])
            xb = spec_augment(torch.tensor(np.stack(batch)), rng)
            yb = torch.nn.functional.one_hot(torch.tensor(y[idx]), k).float()
            lam = float(rng.beta(0.2, 0.2))
            perm = torch.randperm(len(idx))
            xb = lam * xb + (1 - lam) * xb[perm]
            yb = lam * yb + (1 - lam) * yb[perm]
            loss = torch.sum(-yb * torch.log_softmax(net(xb), 1), 1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net


def predict_cnn(net: Any, mels: list[np.ndarray]) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for m in mels:
            p = torch.softmax(net(torch.tensor(crops(m))), 1).mean(0)
            out.append(p.numpy())
    return np.stack(out)


def main() -> None:
    from tqdm import tqdm

    from monitor.media.prosody import EMODB_CLASSES, features
    from monitor.training.compose import DEV_SPEAKERS
    from monitor.training.metrics import classification_report
    from monitor.training.text_train import softmax
    from monitor.training.voice import DATA, fit_logreg, load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--l2", type=float, default=None, help="feature model L2 (default: the shipped model's)")
    ap.add_argument("--smoke", action="store_true", help="2 folds, 2 epochs, 1 seed: checks the script runs")
    args = ap.parse_args()
    t_start = time.time()
    import torch

    torch.set_num_threads(2)
    _, clips, emo, spk_l = load_clips(DATA)
    k = len(EMODB_CLASSES)
    y = np.array([EMODB_CLASSES.index(e) for e in emo])
    spk = np.array(spk_l)
    held = np.isin(spk, sorted(DEV_SPEAKERS))
    cache = Path(".cache/voice-cnn-study.npz")
    if cache.exists():
        d = np.load(cache, allow_pickle=True)
        mels, feats = [np.asarray(m, dtype=np.float32) for m in d["mels"]], d["feats"]
    else:
        mels = [logmel(c) for c in tqdm(clips, desc="log-mel", leave=False)]
        feats = np.stack([features(c) for c in tqdm(clips, desc="features", leave=False)])
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, mels=np.array(mels, dtype=object), feats=feats)
    l2 = args.l2 if args.l2 is not None else _shipped_l2()
    train_spk = sorted(set(spk[~held]))
    folds = train_spk[:2] if args.smoke else train_spk
    epochs, seeds = (2, 1) if args.smoke else (args.epochs, args.seeds)

    def fit_features(tr: np.ndarray) -> Any:
        mu, sd = feats[tr].mean(0), feats[tr].std(0) + 1e-6
        w, b = fit_logreg((feats[tr] - mu) / sd, y[tr], l2, k)

        return lambda te: softmax(((feats[te] - mu) / sd) @ w + b)

    def fit_cnn(tr: np.ndarray) -> Any:
        nets = [train_cnn([mels[i] for i in tr], y[tr], k, epochs, seed) for seed in range(seeds)]
        return lambda te: np.mean([predict_cnn(n, [mels[i] for i in te]) for n in nets], 0)

    loso: dict[str, list[np.ndarray]] = {"features": [], "cnn": [], "average": []}
    loso_y = []
    for s in tqdm(folds, desc="LOSO folds"):
        tr = np.where(~held & (spk != s))[0]
        te = np.where(spk == s)[0]
        pf, pc = fit_features(tr)(te), fit_cnn(tr)(te)
        loso["features"].append(pf)
        loso["cnn"].append(pc)
        loso["average"].append((pf + pc) / 2)
        loso_y.append(y[te])
    yl = np.concatenate(loso_y)
    tr_all, te_held = np.where(~held)[0], np.where(held)[0]
    pf, pc = fit_features(tr_all)(te_held), fit_cnn(tr_all)(te_held)
    held_p = {"features": pf, "cnn": pc, "average": (pf + pc) / 2}
    def macro_f1(y_true: np.ndarray, p: np.ndarray) -> float:
        return float(classification_report(y_true.tolist(), p.argmax(1).tolist(), EMODB_CLASSES)["macro_f1"])

    rows = []
    for name in loso:
        pl = np.concatenate(loso[name])
        rows.append({"model": name, "loso_accuracy": round(float((pl.argmax(1) == yl).mean()), 4),
                     "loso_macro_f1": round(macro_f1(yl, pl), 4),
                     "heldout_0308_accuracy": round(float((held_p[name].argmax(1) == y[te_held]).mean()), 4),
                     "heldout_0308_macro_f1": round(macro_f1(y[te_held], held_p[name]), 4)})
    best = max(rows, key=lambda r: r["loso_accuracy"])
    out = {"data": f"shared/data/audio/emodb: {int((~held).sum())} clips of {len(train_spk)} training speakers "
                   f"(LOSO over {len(folds)} folds); held-out speakers 03+08: {len(te_held)} clips (reported, never "
                   "selected on)",
           "cnn": {"epochs": epochs, "seeds": seeds, "crop_s": CROP * HOP / SR, "mels": 64, "specaugment": True,
                   "mixup_alpha": 0.2, "parameters": sum(p.numel() for p in make_net(k).parameters())},
           "feature_model_l2": l2, "rows": rows, "picked_by_loso": best["model"], "smoke": args.smoke,
           "seconds": round(time.time() - t_start, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    for r in rows:
        print(f"{r['model']:9s} LOSO acc {r['loso_accuracy']:.3f} F1 {r['loso_macro_f1']:.3f} | held-out 03+08 "
              f"acc {r['heldout_0308_accuracy']:.3f} F1 {r['heldout_0308_macro_f1']:.3f} ({len(te_held)} clips)")
    print(f"picked by LOSO: {best['model']}  ({out['seconds']} s) -> {args.out}")


def _shipped_l2() -> float:
    from monitor.media.prosody import DEFAULT_VOICE_ARTEFACT

    meta = json.loads((DEFAULT_VOICE_ARTEFACT / "meta.json").read_text())
    return float(meta.get("l2", 1e-2))


if __name__ == "__main__":
    main()
