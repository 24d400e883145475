"""Voice feature study for issue 14 (speaker independence), selection by leave-one-speaker-out (LOSO) over the six
training speakers of ../shared/data/audio/emodb; speakers 03 and 08 are held out and only reported.

Feature sets: A = monitor.media.prosody.features (186-d, the shipped model's); G = openSMILE eGeMAPSv02 functionals
(88-d; needs the `opensmile` package, not a project dependency: pip install opensmile); A+G; A without the
speaker-dependent means (MFCC means, mean log-pitch). Variants: training-set augmentation (pitch ±2 semitones,
tempo 0.9 / 1.1) and per-speaker z-scoring (an oracle: it needs the speaker's identity and an emotion-balanced
set of that speaker's clips, which a live stream does not have). Classifiers: logistic regression (C grid) and RBF SVM.

  PYTHONPATH=<site with opensmile> python scripts/voice_study.py --out docs/results/voice-loso-study.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from monitor.media.prosody import EMODB_CLASSES, features
    from monitor.training.compose import DEV_SPEAKERS
    from monitor.training.voice import DATA, load_clips

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path(".cache/voice-study.npz"))
    args = ap.parse_args()
    _, clips, emo, spk_l = load_clips(DATA)
    y = np.array([EMODB_CLASSES.index(e) for e in emo])
    spk = np.array(spk_l)
    held = np.isin(spk, sorted(DEV_SPEAKERS))
    if args.cache.exists():
        d = dict(np.load(args.cache))
    else:
        import opensmile

        sm = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                             feature_level=opensmile.FeatureLevel.Functionals)

        def gemaps(c: np.ndarray) -> np.ndarray:
            return sm.process_signal(c, 16000).to_numpy()[0]

        d = {"A": np.stack([features(c) for c in clips]), "G": np.stack([gemaps(c) for c in clips])}
        aug = {"A": [], "G": [], "y": [], "s": []}
        for i in np.where(~held)[0]:
            for kind, v in (("p", -2), ("p", 2), ("t", 0.9), ("t", 1.1)):
                a = (librosa.effects.pitch_shift(clips[i], sr=16000, n_steps=v) if kind == "p"
                     else librosa.effects.time_stretch(clips[i], rate=v))
                aug["A"].append(features(a))
                aug["G"].append(gemaps(a))
                aug["y"].append(y[i])
                aug["s"].append(spk[i])
        d.update({f"aug{k}": np.array(v) for k, v in aug.items()})
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, **d)
    no_means = np.setdiff1d(np.arange(d["A"].shape[1]), [*range(20), 160])
    sets = {"A": (d["A"], d["augA"]), "G": (d["G"], d["augG"]),
            "A+G": (np.hstack([d["A"], d["G"]]), np.hstack([d["augA"], d["augG"]])),
            "A-speaker-means+G": (np.hstack([d["A"][:, no_means], d["G"]]),
                                  np.hstack([d["augA"][:, no_means], d["augG"]]))}

    def spknorm(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        for v in np.unique(spk):
            m = spk == v
            x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
        return x

    def model(kind: str, c: float):  # noqa: ANN202
        clf = LogisticRegression(C=c, max_iter=3000) if kind == "logreg" else SVC(C=c, kernel="rbf", gamma="scale")
        return make_pipeline(StandardScaler(), clf)

    rows = []
    t0 = time.time()
    for name, (x0, xa) in sets.items():
        for variant in ("plain", "augmented", "speaker-z (oracle)"):
            x = spknorm(x0) if variant.startswith("speaker") else x0
            for kind, c in [("logreg", 0.01), ("logreg", 0.03), ("logreg", 0.1), ("logreg", 0.3),
                            ("svm", 1.0), ("svm", 3.0), ("svm", 10.0)]:
                correct = 0
                for v in np.unique(spk[~held]):
                    te = spk == v
                    tr = (~held) & ~te
                    xtr, ytr = x[tr], y[tr]
                    if variant == "augmented":
                        m = d["augs"] != v
                        xtr, ytr = np.vstack([xtr, xa[m]]), np.concatenate([ytr, d["augy"][m]])
                    correct += int((model(kind, c).fit(xtr, ytr).predict(x[te]) == y[te]).sum())
                xtr, ytr = x[~held], y[~held]
                if variant == "augmented":
                    xtr, ytr = np.vstack([xtr, xa]), np.concatenate([ytr, d["augy"]])
                ho = float((model(kind, c).fit(xtr, ytr).predict(x[held]) == y[held]).mean())
                rows.append({"features": name, "variant": variant, "model": kind, "C": c,
                             "loso_accuracy": round(correct / int((~held).sum()), 4), "heldout_0308_accuracy": round(ho, 4)})
                print(json.dumps(rows[-1]), flush=True)
    best = {}
    for r in rows:  # best per (features, variant) by LOSO only
        k = f"{r['features']} / {r['variant']}"
        if k not in best or r["loso_accuracy"] > best[k]["loso_accuracy"]:
            best[k] = r
    out = {"data": f"shared/data/audio/emodb: {int((~held).sum())} clips of {len(set(spk[~held]))} training speakers "
                   f"(LOSO); held-out speakers 03+08: {int(held.sum())} clips (reported, never selected on)",
           "seconds": round(time.time() - t0, 1), "best_by_loso": best, "rows": rows}
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
