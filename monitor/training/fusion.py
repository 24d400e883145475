"""`monitor train fusion`: compose multimodal train/dev posts, extract modality tokens with the worker's own encode
path, train the attention fusion (monitor/score/fusion.py), select and calibrate it on dev, write the artefact.

Data: `compose("train", n_train, seed)` (train sources only) for training; `compose("dev", n_dev, 1)` (dev sources
only; the same recipe as the reported dev350 set) for model selection, temperature and the reported tables. Tokens
come from `MultimodalScorer.evidence`, i.e. the same decode -> OCR / faces / VAD + ASR / prosody -> text model code as
the worker; they are cached (one JSON per split and recipe) so that re-training does not re-run the encoders.
Text-only posts are scored by the text model alone in the worker, so they are left out of fusion training.
Training: full batch AdamW, class-balanced cross-entropy, modality dropout (each present token dropped with
probability 0.25 while one stays) so that missing modalities are seen in training; a small grid (width, weight
decay) is chosen by dev macro-F1; the temperature is fitted on dev NLL.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor import LABELS
from monitor.score.fusion import (
    DEFAULT_ALIGN_ARTEFACT,
    DEFAULT_FUSION_ARTEFACT,
    MODALITIES,
    FusionEnsemble,
    FusionNet,
    token_features,
)
from monitor.training.metrics import classification_report, fit_temperature

CACHE_DIR = Path(".cache") / "fusion"


def evidence_fingerprint() -> str:
    """Short hash of the artefacts that produce the evidence (text, faces, voice, alignment), so a cached evidence
    file is never reused after one of them is retrained."""
    import hashlib

    from monitor.media.face_model import DEFAULT_FACE_ARTEFACT
    from monitor.media.prosody import DEFAULT_VOICE_ARTEFACT
    from monitor.score.text_model import DEFAULT_ARTEFACT

    h = hashlib.sha256()
    for d in (DEFAULT_ARTEFACT, DEFAULT_FACE_ARTEFACT, DEFAULT_VOICE_ARTEFACT, DEFAULT_ALIGN_ARTEFACT):
        for f in sorted(Path(d).glob("*")):
            if f.suffix in (".json", ".safetensors", ".npz"):
                h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:10]


def extract(split: str, n: int, seed: int, batch: int = 16, cache_dir: Path = CACHE_DIR) -> list[dict[str, Any]]:
    """Composed posts -> [{id, kind, label, media, by, aux}] (posts without evidence are kept with by = None)."""
    from tqdm import tqdm

    from monitor.config import Settings
    from monitor.ingest.decode import DecodeFailure, decode_post
    from monitor.score.factory import build_scorer
    from monitor.training.compose import compose
    from monitor.training.cross_fit import clip_index, post_clip
    from monitor.training.text_data import default_data_dir

    # v2: rows name their Emo-DB clip (`voice_file`); the fingerprint changes with any encoder artefact
    path = cache_dir / f"{split}-n{n}-s{seed}-v2-{evidence_fingerprint()}.json"
    if path.exists():
        return json.loads(path.read_text())
    clips = clip_index(default_data_dir() / "audio" / "emodb")
    settings = Settings.load(None, env={})
    scorer = build_scorer(settings)
    if not hasattr(scorer, "evidence"):
        raise RuntimeError("fusion training needs the media encoders (media_encoders on, trained text model)")
    rows: list[dict[str, Any]] = []
    posts = []
    for obj in compose(split, n, seed):
        label, kind = obj.pop("label"), obj.pop("kind")
        res = decode_post(json.dumps(obj).encode(), settings.limits)
        if isinstance(res, DecodeFailure):
            continue
        rows.append({"id": obj["id"], "kind": kind, "label": label, "media": bool(obj.get("media")),
                     "voice_file": post_clip(obj, clips)})
        posts.append(res)
    for i in tqdm(range(0, len(posts), batch), desc=f"encode {split} posts"):
        for row, ev in zip(rows[i:i + batch], scorer.evidence(posts[i:i + batch]), strict=True):
            row["by"], row["aux"] = (ev if ev is not None else (None, None))
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))
    return rows


def tensors(rows: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    feats = [token_features(r["by"], r["aux"]) for r in rows]
    x = torch.tensor(np.stack([f[0] for f in feats]))
    mask = torch.tensor(np.stack([f[1] for f in feats]))
    y = torch.tensor([LABELS.index(r["label"]) for r in rows])
    return x, mask, y


def fit(rows: list[dict[str, Any]], d: int, wd: float, epochs: int = 400, seed: int = 5,
        p_drop: float = 0.25) -> FusionNet:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, mask, y = tensors(rows)
    net = FusionNet(d=d)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=wd)
    w = torch.tensor(len(y) / np.bincount(y.numpy(), minlength=3).clip(1) / 3, dtype=torch.float32)
    for _ in range(epochs):
        drop = (torch.rand(mask.shape, generator=gen) < p_drop) & mask
        keep = mask & ~drop
        keep = torch.where(keep.any(-1, keepdim=True), keep, mask)  # never drop every token of a post
        logits, _ = net(x, keep)
        loss = torch.nn.functional.cross_entropy(logits, y, weight=w)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.inference_mode()
def predict(net: FusionNet | FusionEnsemble, rows: list[dict[str, Any]], temperature: float = 1.0,
            drop: str | None = None) -> np.ndarray:
    """Probabilities as the worker computes them: fusion for media posts, the text model for text-only posts;
    `drop` masks one modality (a post left with no token is predicted neutral, as the worker's unscored posts)."""
    x, mask, _ = tensors(rows)
    if drop is not None:
        mask[:, MODALITIES.index(drop)] = False
    logits, _ = net(x, mask)
    probs = torch.softmax(logits / temperature, -1).numpy()
    for i, r in enumerate(rows):
        if not r["media"] and mask[i].any():
            probs[i] = np.asarray(r["by"]["text"])
        if not mask[i].any():
            probs[i] = (0.0, 1.0, 0.0)
    return probs


def rule_predict(rows: list[dict[str, Any]]) -> np.ndarray:
    from monitor.score.multimodal import combine

    return np.stack([np.asarray(combine(r["by"]) or (0.0, 1.0, 0.0)) for r in rows])


def _token_accuracy(rows: list[dict[str, Any]], kind: str = "voice") -> float | None:
    """Accuracy of the voice token alone on the posts of one composed kind (a check of in- vs out-of-sample)."""
    have = [r for r in rows if r["kind"] == kind and r.get("by") and r["by"].get("voice")]
    if not have:
        return None
    return round(float(np.mean([int(np.argmax(r["by"]["voice"])) == LABELS.index(r["label"]) for r in have])), 4)


@torch.inference_mode()
def attention_by_kind(net: FusionNet | FusionEnsemble, rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean attention weight per modality on the posts of each composed kind (how far each token is trusted)."""
    x, mask, _ = tensors(rows)
    _, w = net(x, mask)
    out = {}
    for k in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == k]
        out[k] = {m: round(float(w[idx, j].mean()), 3) for j, m in enumerate(MODALITIES) if mask[idx, j].any()}
    return out


def tables(rows: list[dict[str, Any]], probs: np.ndarray) -> dict[str, Any]:
    y = [LABELS.index(r["label"]) for r in rows]
    pred = probs.argmax(1).tolist()
    rep = classification_report(y, pred, LABELS)
    out = {k: rep[k] for k in ("n", "accuracy", "macro_f1", "macro_recall")}
    out["per_kind"] = {}
    for k in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == k]
        kr = classification_report([y[i] for i in idx], [pred[i] for i in idx], LABELS)
        out["per_kind"][k] = {"n": len(idx), "accuracy": round(kr["accuracy"], 4), "macro_f1": round(kr["macro_f1"], 4)}
    return out


def train_fusion(n_train: int = 1400, n_dev: int = 350, seed: int = 2, out: Path = DEFAULT_FUSION_ARTEFACT,
                 cache_dir: Path = CACHE_DIR, n_seeds: int = 5, voice_oof: bool = True) -> dict[str, Any]:
    """Each grid point (width, weight decay) is an ensemble of `n_seeds` nets (init + modality-dropout seeds);
    the grid point is chosen by the ensemble's dev macro-F1, and the report also gives each member's own figure.
    `voice_oof`: train posts' voice tokens are cross-fitted (monitor/training/cross_fit.py), not in-sample."""
    from safetensors.torch import save_file

    from monitor.training.cross_fit import apply_voice_oof, voice_oof_tokens

    train_all = extract("train", n_train, seed, cache_dir=cache_dir)
    voice_report: dict[str, Any] = {"cross_fitted": voice_oof,
                                    "train_voice_posts_token_accuracy_in_sample": _token_accuracy(train_all)}
    if voice_oof:
        files = {r["voice_file"] for r in train_all if r.get("voice_file")}
        voice_report["n_replaced"] = apply_voice_oof(train_all, voice_oof_tokens(files))
        voice_report["train_voice_posts_token_accuracy_cross_fitted"] = _token_accuracy(train_all)
    dev_all = extract("dev", n_dev, 1, cache_dir=cache_dir)
    train = [r for r in train_all if r["by"] and r["media"]]
    dev = [r for r in dev_all if r["by"]]
    dev_media = [r for r in dev if r["media"]]
    random.Random(seed).shuffle(train)
    grid = []
    for d in (16, 32):
        for wd in (1e-3, 1e-2, 1e-1):
            members = [fit(train, d, wd, seed=5 + k) for k in range(n_seeds)]
            single = [tables(dev, predict(m, dev))["macro_f1"] for m in members]
            ens = FusionEnsemble(members).eval()
            grid.append((tables(dev, predict(ens, dev))["macro_f1"], d, wd, ens, single))
            print(f"d={d} wd={wd}: dev macro-F1 ensemble of {n_seeds} {grid[-1][0]:.4f}, members "
                  f"{np.mean(single):.4f} ± {np.std(single):.4f}", flush=True)
    best_f1, d, wd, net, _ = max(grid, key=lambda g: g[0])
    x, mask, y = tensors(dev_media)
    with torch.inference_mode():
        logits, _ = net(x, mask)
    temperature = fit_temperature(logits.numpy(), y.numpy())
    fused = predict(net, dev, temperature)
    text_only = np.stack([np.asarray(r["by"].get("text", (0.0, 1.0, 0.0))) if r["by"] else (0.0, 1.0, 0.0)
                          for r in dev])
    report: dict[str, Any] = {
        "train_voice_evidence": voice_report,
        "train": {"n_composed": len(train_all), "n_fusion": len(train), "recipe": f"compose train n={n_train} "
                  f"seed={seed}", "kinds": {k: sum(r["kind"] == k for r in train) for k in sorted({r["kind"]
                                                                                            for r in train})}},
        "dev": {"n_composed": len(dev_all), "recipe": f"compose dev n={n_dev} seed=1 (no evidence: "
                f"{len(dev_all) - len(dev)} posts, left out of these tables; `monitor eval posts` counts them)"},
        "selected": {"d": d, "weight_decay": wd, "members": n_seeds, "dev_macro_f1_uncalibrated": round(best_f1, 4)},
        "temperature": round(float(temperature), 4),
        "grid": [{"d": g[1], "weight_decay": g[2], "dev_macro_f1": round(g[0], 4),
                  "member_dev_macro_f1": [round(f, 4) for f in g[4]]} for g in grid],
        "dev_fused": tables(dev, fused),
        "dev_voice_posts_token_accuracy": _token_accuracy(dev),
        "dev_nll": round(float(-np.mean(np.log(fused[np.arange(len(dev)), [LABELS.index(r["label"]) for r in dev]]
                                               + 1e-9))), 4),
        "dev_attention_by_kind": attention_by_kind(net, dev_media),
        "dev_rule": tables(dev, rule_predict(dev)),
        "dev_text_only": tables(dev, text_only),
        "dev_drop_one_modality": {m: {k: v for k, v in tables(dev, predict(net, dev, temperature, drop=m)).items()
                                      if k != "per_kind"} for m in MODALITIES},
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().float().contiguous() for k, v in net.state_dict().items()}, str(out / "model.safetensors"))
    meta = {"version": "2", "d": d, "members": n_seeds, "temperature": report["temperature"], "modalities": list(MODALITIES),
            "labels": list(LABELS), **{k: report[k] for k in ("train", "dev", "selected", "dev_fused")}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return report
