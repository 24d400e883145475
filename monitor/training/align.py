"""`monitor train align`: map non-verbal vectors into the text encoder's space (fusion issue, item 1).

Recognised text (OCR, transcripts) already lives in the MiniLM space. The face CNN's 128-d embedding and the 186-d
prosody features are projected linearly into the 384-d mean-pooled MiniLM space (the fine-tuned text model's
encoder), trained against text embeddings of matching sentiment: a prototype cross-entropy over the cosine
similarity to the three class prototypes (mean embeddings of train sentences per sentiment) plus a cosine
regression to a random train sentence of the same sentiment. Faces: FER2013 train (surprise left out; angry,
disgust, fear, sad -> negative; happy -> positive; neutral -> neutral). Voice: Emo-DB speakers other than 03 and 08
(boredom left out). Reported: nearest-class retrieval accuracy by cosine on dev data (fer2013_dev faces, Emo-DB
speakers 03 and 08) against prototypes built from dev sentences, with the text-to-text figure for reference.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor import LABELS
from monitor.training.compose import DEV_SPEAKERS, EMODB_TO_LABEL, FER_TO_LABEL

DEFAULT_ALIGN_ARTEFACT = Path(__file__).resolve().parents[1] / "models" / "align"


def embed_texts(model: Any, texts: list[str], batch: int = 64) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = model.tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=model.cfg.max_length,
                                  return_tensors="pt")
            e = model.net.embed(enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device)).float()
            out.append(torch.nn.functional.normalize(e, dim=-1).cpu().numpy())
    return np.concatenate(out)


def _fit(x: np.ndarray, y: np.ndarray, protos: np.ndarray, pairs: np.ndarray, epochs: int = 60,
         seed: int = 3) -> torch.nn.Linear:
    torch.manual_seed(seed)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    pt, tt = torch.tensor(protos, dtype=torch.float32), torch.tensor(pairs, dtype=torch.float32)
    proj = torch.nn.Linear(x.shape[1], protos.shape[1])
    opt = torch.optim.AdamW(proj.parameters(), lr=3e-3, weight_decay=1e-3)
    w = torch.tensor(len(y) / np.bincount(y, minlength=3) / 3, dtype=torch.float32)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 256):
            idx = perm[i:i + 256]
            z = torch.nn.functional.normalize(proj(xt[idx]), dim=-1)
            ce = torch.nn.functional.cross_entropy(z @ pt.T / 0.05, yt[idx], weight=w)
            reg = (1 - (z * tt[idx]).sum(-1)).mean()
            loss = ce + 0.5 * reg
            opt.zero_grad()
            loss.backward()
            opt.step()
    return proj


def _retrieval(proj: torch.nn.Linear, x: np.ndarray, y: np.ndarray, protos: np.ndarray) -> float:
    with torch.no_grad():
        z = torch.nn.functional.normalize(proj(torch.tensor(x, dtype=torch.float32)), dim=-1).numpy()
    return float(((z @ protos.T).argmax(1) == y).mean())


def train_align(out: Path = DEFAULT_ALIGN_ARTEFACT, per_label: int = 800, seed: int = 3) -> dict[str, Any]:
    import csv

    from safetensors.torch import save_file

    from monitor.media.audio import decode_audio
    from monitor.media.face_model import FaceExpressionModel
    from monitor.media.prosody import VoiceEmotionModel
    from monitor.score.text_model import TextSentimentModel
    from monitor.training.text_data import default_data_dir, load_splits

    rng = random.Random(seed)
    d = default_data_dir()
    text_model = TextSentimentModel()
    train, dev = load_splits(d)

    def protos_of(pool: list[Any]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        by = {k: [e.text for e in pool if e.label == k] for k in range(3)}
        embs = {k: embed_texts(text_model, rng.sample(v, min(per_label, len(v)))) for k, v in by.items()}
        p = np.stack([embs[k].mean(0) for k in range(3)])
        return p / np.linalg.norm(p, axis=1, keepdims=True), embs

    p_train, e_train = protos_of([e for v in train.values() for e in v])
    p_dev, e_dev = protos_of([e for v in dev.values() for e in v])
    text_ref = float(np.mean([((e_dev[k] @ p_train.T).argmax(1) == k).mean() for k in range(3)]))

    def pairs(y: np.ndarray) -> np.ndarray:
        return np.stack([e_train[int(k)][rng.randrange(len(e_train[int(k)]))] for k in y])

    faces = FaceExpressionModel()
    res: dict[str, Any] = {"text_to_text_dev_retrieval": text_ref}
    for split_file, key in (("fer2013_train.npz", "train"), ("fer2013_dev.npz", "dev")):
        z = np.load(d / "image" / split_file)
        cls = [str(c) for c in z["classes"]]
        keep = [i for i, lab in enumerate(z["labels"]) if FER_TO_LABEL.get(cls[int(lab)])]
        y = np.array([LABELS.index(FER_TO_LABEL[cls[int(z["labels"][i])]]) for i in keep])
        _, emb = faces.predict(z["images"][keep])
        res[f"face_{key}"] = (emb, y)
    xf, yf = res.pop("face_train")
    xfd, yfd = res.pop("face_dev")
    mu_f, sd_f = xf.mean(0), xf.std(0) + 1e-6
    proj_f = _fit((xf - mu_f) / sd_f, yf, p_train, pairs(yf), epochs=15, seed=seed)
    res["face_dev_retrieval"] = _retrieval(proj_f, (xfd - mu_f) / sd_f, yfd, p_dev)
    res["face_dev_n"] = len(yfd)
    voice = VoiceEmotionModel()
    emo = d / "audio" / "emodb"
    vx, vy, vdev = [], [], []
    with open(emo / "labels.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lab = EMODB_TO_LABEL.get(row["emotion"])
            if lab:
                vx.append(voice.featurize(decode_audio((emo / row["file"]).read_bytes())))
                vy.append(LABELS.index(lab))
                vdev.append(row["speaker"] in DEV_SPEAKERS)
    voice_x = (np.stack(vx) - voice.mean) / voice.std
    vy_a, vdev_a = np.array(vy), np.array(vdev)
    proj_v = _fit(voice_x[~vdev_a], vy_a[~vdev_a], p_train, pairs(vy_a[~vdev_a]), epochs=200, seed=seed)
    res["voice_dev_retrieval"] = _retrieval(proj_v, voice_x[vdev_a], vy_a[vdev_a], p_dev)
    res["voice_dev_n"] = int(vdev_a.sum())
    out.mkdir(parents=True, exist_ok=True)
    tensors = {"face_w": proj_f.weight.detach().half(), "face_b": proj_f.bias.detach().half(),
               "face_mu": torch.tensor(mu_f).half(), "face_sd": torch.tensor(sd_f).half(),
               "voice_w": proj_v.weight.detach().half(), "voice_b": proj_v.bias.detach().half(),
               "text_prototypes": torch.tensor(p_train).half()}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "align.safetensors"))
    meta = {**res, "text_model": text_model.version, "face_model": faces.version, "voice_model": voice.version,
            "labels": list(LABELS), "per_label_texts": per_label,
            "data": "prototypes: train sentences (train files + carved train splits); dev prototypes: dev files; "
                    "faces: fer2013 train/dev; voice: Emo-DB speakers other than 03, 08 / speakers 03, 08"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
