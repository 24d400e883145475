"""Cross-fitted (out-of-fold) voice evidence for fusion training.

The fusion learns how far to trust each modality from its evidence on composed *train* posts. The voice model and
the voice alignment are fitted on the very Emo-DB train-speaker clips those posts use, so in-sample their voice
token is right on every train post (accuracy 1.00) while on unseen speakers it is right on about 0.70: the fusion
learns to trust a voice token far more than it deserves, and a confident voice token on a speech post (espeak-ng
prosody, which carries no emotion) outvotes the transcript. This module rebuilds the voice token of each train clip
the way it would look on an unseen speaker: leave-one-speaker-out, the head (same features, L2 and temperature as
the shipped model) and the alignment projection (same recipe as `monitor train align`) are refitted without the
clip's speaker and applied to it. Dev posts are untouched (their speakers 03 and 08 are unseen by both models).
Not refitted per fold (second-order, stated for completeness): the alignment's input scaler (the shipped voice
model's mean / std over all training speakers) and the L2 strength and temperature, which the voice trainer chose by
leave-one-speaker-out over the same speakers.
"""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np

from monitor import LABELS
from monitor.training.compose import DEV_SPEAKERS, EMODB_TO_LABEL


def clip_index(emo_dir: Path) -> dict[str, str]:
    """sha256 of an Emo-DB file's bytes -> file name (to recognise the clip inside a composed post)."""
    out = {}
    with open(emo_dir / "labels.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out[hashlib.sha256((emo_dir / row["file"]).read_bytes()).hexdigest()] = row["file"]
    return out


def post_clip(obj: dict[str, Any], index: dict[str, str]) -> str | None:
    """The Emo-DB file a composed post carries as its audio, if any."""
    import base64

    for m in obj.get("media") or []:
        if m.get("kind") == "audio" and m.get("data"):
            name = index.get(hashlib.sha256(base64.b64decode(m["data"])).hexdigest())
            if name:
                return name
    return None


def voice_oof_tokens(files: set[str], data_dir: Path | None = None, seed: int = 3,
                     leave_speaker_out: bool = True) -> dict[str, tuple[list[float], list[float]]]:
    """file -> (voice evidence (neg, neu, pos), aligned sims) from models that never saw the file's speaker.

    Only train-speaker files can be asked for (dev speakers are out of sample already). `leave_speaker_out=False`
    fits one fold on every training speaker: the head then reproduces the shipped voice model (a consistency check
    that this module builds the token exactly as the worker does)."""
    import torch

    from monitor.media.prosody import VoiceEmotionModel, valence
    from monitor.score.fusion import Aligner
    from monitor.score.text_model import TextSentimentModel
    from monitor.training.align import _fit, embed_texts
    from monitor.training.text_data import default_data_dir, load_splits
    from monitor.training.voice import fit_logreg, load_clips, standardise

    if not files:
        return {}
    d = Path(data_dir or default_data_dir())
    names, clips, emotions, speakers = load_clips(d / "audio" / "emodb")
    train_idx = [i for i, s in enumerate(speakers) if s not in DEV_SPEAKERS]
    asked_dev = files - {names[i] for i in train_idx}
    if asked_dev:
        raise ValueError(f"not train-speaker Emo-DB files: {sorted(asked_dev)[:3]}")
    voice = VoiceEmotionModel()
    aligner = Aligner()
    l2 = float(voice.meta["l2"])
    names = [names[i] for i in train_idx]
    x = np.stack([voice.featurize(clips[i]) for i in train_idx])
    y7 = np.array([voice.classes.index(emotions[i]) for i in train_idx])
    spk = np.array([speakers[i] for i in train_idx])
    lab3 = np.array([LABELS.index(EMODB_TO_LABEL[emotions[i]]) if emotions[i] in EMODB_TO_LABEL else -1
                     for i in train_idx])
    xs = (x - voice.mean) / voice.std  # the aligner's input, as in `monitor train align` and the worker
    # text side of the alignment, as `monitor train align` builds it: train-sentence embeddings per sentiment
    rng = random.Random(seed)
    text_model = TextSentimentModel()
    train, _ = load_splits(d)
    pool = [e for v in train.values() for e in v]
    e_train = {k: embed_texts(text_model, rng.sample([e.text for e in pool if e.label == k],
                                                     min(800, sum(e.label == k for e in pool))))
               for k in range(3)}
    out: dict[str, tuple[list[float], list[float]]] = {}
    folds = sorted({s for s, n in zip(spk, names, strict=True) if n in files}) if leave_speaker_out else ["(none)"]
    for s in folds:
        te = spk == s if leave_speaker_out else np.isin(names, sorted(files))
        tr = spk != s
        mu, sd = standardise(x[tr])
        w, b = fit_logreg((x[tr] - mu) / sd, y7[tr], l2, len(voice.classes))
        logits = (((x[te] - mu) / sd) @ w + b) / voice.temperature
        p7 = np.exp(logits - logits.max(1, keepdims=True))
        p7 /= p7.sum(1, keepdims=True)
        keep = tr & (lab3 >= 0)
        pairs = np.stack([e_train[int(k)][rng.randrange(len(e_train[int(k)]))] for k in lab3[keep]])
        proj = _fit(xs[keep], lab3[keep], aligner.protos, pairs, epochs=200, seed=seed)
        with torch.no_grad():
            z = proj(torch.tensor(xs[te], dtype=torch.float32)).numpy()
        for k, i in enumerate(np.flatnonzero(te)):
            if names[i] in files:
                out[names[i]] = (valence(p7[k], voice.classes)[0], aligner.sims(z[k]))
    return out


def apply_voice_oof(rows: list[dict[str, Any]], tokens: dict[str, tuple[list[float], list[float]]]) -> int:
    """Replace the voice token of rows that carry a train-speaker clip; returns how many rows changed."""
    n = 0
    for r in rows:
        f = r.get("voice_file")
        if f and f in tokens and r.get("by") and "voice" in r["by"]:
            r["by"]["voice"], aligned = tokens[f]
            r["aux"]["voice"] = {**r["aux"]["voice"], "aligned": aligned}
            n += 1
    return n
