"""Composed multimodal post sets (`monitor compose posts`), built only from ../shared/data.

Train split -> train sources only; dev split -> dev sources only (text dev files and the carved dev splits,
fer2013_dev; Emo-DB is held out by speaker: speakers 03 and 08 are dev, the rest train).
Kinds (the `kind` field of each line):
  text        plain text post, label = the text's label
  image_text  neutral filler text + an image with a labelled sentence rendered into it (label = the sentence's)
  image_only  no text, only the rendered image
  face        neutral filler text + a FER2013 face: angry/disgust/fear/sad -> negative, happy -> positive,
              neutral -> neutral (surprise is left out: its valence is ambiguous)
  speech      neutral filler text + espeak-ng speech of a labelled sentence (label = the sentence's)
  voice       neutral filler text + an Emo-DB clip (German acted speech; its words carry no sentiment):
              anger/disgust/fear/sadness -> negative, happiness -> positive, neutral -> neutral
              (boredom left out)
  agree       a labelled text + an image of another sentence with the same label
Every line is a `posts.raw` post plus `label` and `kind`.
"""

from __future__ import annotations

import base64
import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from monitor import LABELS
from monitor.training.text_data import default_data_dir, load_splits

FILLERS = ("new post", "look at this", "today", "check this out", "thoughts?", "just saw this", "hmm", "update")
FER_TO_LABEL = {"angry": "negative", "disgust": "negative", "fear": "negative", "sad": "negative",
                "happy": "positive", "neutral": "neutral"}
EMODB_TO_LABEL = {"anger": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
                  "happiness": "positive", "neutral": "neutral"}
DEV_SPEAKERS = {"03", "08"}
KINDS = ("text", "image_text", "image_only", "face", "speech", "voice", "agree")


def _short(text: str, rng: random.Random, max_chars: int = 90) -> str:
    import re

    t = re.sub(r"https?://\S+|@\w+|\\?u[0-9a-f]{4}|&\w+;|[^\x20-\x7e]", " ", text)
    t = re.sub(r"\s+", " ", t).strip().strip('"')
    return t if len(t) <= max_chars else t[:max_chars].rsplit(" ", 1)[0]


def compose(split: str, n: int, seed: int = 1, kinds: tuple[str, ...] = KINDS,
            data_dir: Path | None = None) -> Iterator[dict[str, Any]]:
    from tqdm import tqdm

    from monitor.media.samples import espeak_wav, render_text_image
    from monitor.synth.stream import face_png

    assert split in ("train", "dev")
    d = Path(data_dir or default_data_dir())
    rng = random.Random(seed + (0 if split == "train" else 1000))
    train, dev = load_splits(d)
    pool = [e for v in (train if split == "train" else dev).values() for e in v]
    by_label: dict[str, list[str]] = {lab: [] for lab in LABELS}
    for e in pool:
        t = _short(e.text, rng)
        if len(t) >= 12:
            by_label[LABELS[e.label]].append(t)
    fer = np.load(d / "image" / ("fer2013_train.npz" if split == "train" else "fer2013_dev.npz"))
    fer_classes = [str(c) for c in fer["classes"]]
    faces = {lab: [] for lab in LABELS}
    for img, y in zip(fer["images"], fer["labels"], strict=True):
        lab = FER_TO_LABEL.get(fer_classes[int(y)])
        if lab:
            faces[lab].append(img)
    emo_dir = d / "audio" / "emodb"
    voices = {lab: [] for lab in LABELS}
    with open(emo_dir / "labels.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lab = EMODB_TO_LABEL.get(row["emotion"])
            if lab and ((row["speaker"] in DEV_SPEAKERS) == (split == "dev")):
                voices[lab].append(emo_dir / row["file"])
    for i in tqdm(range(n), desc=f"compose {split}", leave=False):
        kind = kinds[i % len(kinds)]
        label = rng.choice(LABELS)
        post: dict[str, Any] = {"id": f"{split}-{kind}-{i:06d}", "created_at": 1_767_225_600_000 + i * 1000,
                                "source": rng.choice(["twitter", "reddit", "stocktwits", "news"])}
        filler = rng.choice(FILLERS)
        sentence = rng.choice(by_label[label])
        if kind == "text":
            post["text"] = sentence
        elif kind in ("image_text", "image_only", "agree"):
            img, _ = render_text_image(sentence, rng)
            post["media"] = [{"kind": "image", "mime": "image/jpeg", "data": base64.b64encode(img).decode()}]
            if kind == "image_text":
                post["text"] = filler
            elif kind == "agree":
                post["text"] = rng.choice(by_label[label])
        elif kind == "face":
            png = face_png(faces[label][rng.randrange(len(faces[label]))])
            post["text"] = filler
            post["media"] = [{"kind": "image", "mime": "image/png", "data": base64.b64encode(png).decode()}]
        elif kind == "speech":
            voice = rng.choice(["en-us", "en-gb", "en-us+f3", "en-gb+m3"])
            wav = espeak_wav(sentence, voice, rng.choice([140, 160, 180]))
            post["text"] = filler
            post["media"] = [{"kind": "audio", "mime": "audio/wav", "data": base64.b64encode(wav).decode()}]
        elif kind == "voice":
            wav = voices[label][rng.randrange(len(voices[label]))].read_bytes()
            post["text"] = filler
            post["media"] = [{"kind": "audio", "mime": "audio/wav", "data": base64.b64encode(wav).decode()}]
        yield {**post, "label": label, "kind": kind}


def write_jsonl(rows: Iterator[dict[str, Any]], path: Path) -> int:
    n = 0
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
            n += 1
    return n
