"""Round-3 voice probes behind the README's figures (not product code): `a1` without its level features, and
gender-dependent standardisation (true gender / gender guessed from mean pitch), each with the shipped logistic
regression, L2 chosen by leave-one-speaker-out over the 6 training speakers; speakers 03 + 08 reported only.

  .venv/bin/python scripts/voice_probe3.py        (~2 min on 2 cores: features of 408 clips, then the fits)
"""

from __future__ import annotations

import numpy as np

from monitor.media.prosody import EMODB_CLASSES
from monitor.training.compose import DEV_SPEAKERS
from monitor.training.voice import DATA, feature_matrices, fit_logreg, load_clips, loso, standardise

MALE = {"03", "10", "11", "12", "15"}  # Emo-DB speaker genders (its documentation)
GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def gender_norm(x: np.ndarray, g: np.ndarray, ref: np.ndarray) -> np.ndarray:
    x = x.copy()
    for v in (True, False):
        m = g == v
        x[m] = (x[m] - x[ref & m].mean(0)) / (x[ref & m].std(0) + 1e-6)
    return x


def evaluate(x: np.ndarray, y: np.ndarray, spk: np.ndarray, held: np.ndarray, g: np.ndarray | None) -> tuple:
    ytr, st, xt = y[~held], spk[~held], x[~held]
    best = (-1.0, 0.0)
    for l2 in GRID:
        if g is None:
            lg = loso(xt, ytr, st, l2, 7)
        else:
            lg = np.zeros((len(ytr), 7))
            for s in np.unique(st):
                te = st == s
                xn = gender_norm(xt, g[~held], ~te)
                mu, sd = standardise(xn[~te])
                w, b = fit_logreg((xn[~te] - mu) / sd, ytr[~te], l2, 7)
                lg[te] = ((xn[te] - mu) / sd) @ w + b
        best = max(best, (float((lg.argmax(1) == ytr).mean()), l2))
    xn = x if g is None else gender_norm(x, g, ~held)
    mu, sd = standardise(xn[~held])
    w, b = fit_logreg((xn[~held] - mu) / sd, ytr, best[1], 7)
    return round(best[0], 4), round(float(((((xn[held] - mu) / sd) @ w + b).argmax(1) == y[held]).mean()), 4)


def main() -> None:
    _, clips, emotions, speakers = load_clips(DATA)
    a1 = feature_matrices(clips, ("a1",))["a1"]
    y, spk = np.array([EMODB_CLASSES.index(e) for e in emotions]), np.array(speakers)
    held = np.isin(spk, sorted(DEV_SPEAKERS))
    # a1 layout: MFCC mean 0-19, MFCC std, delta mean, delta std, log-Mel mean 80-119, log-Mel std, pitch (mean 160)
    no_level = np.delete(a1, [*range(20), *range(80, 120), 160], axis=1)
    g_true = np.isin(spk, sorted(MALE))
    g_pitch = a1[:, 160] < np.log(165)
    print(f"gender from mean pitch < 165 Hz right for {(g_pitch == g_true).mean():.3f} of clips")
    for name, x, g in (("a1 without level features", no_level, None), ("a1 gender-norm (true)", a1, g_true),
                       ("a1 gender-norm (pitch)", a1, g_pitch)):
        lo, ho = evaluate(x, y, spk, held, g)
        print(f"{name}: LOSO accuracy {lo}, held-out 03+08 {ho}")


if __name__ == "__main__":
    main()
