"""Deterministic synthetic stream (for a seed): labelled texts from ../shared/data, many topics with their own
volume and normal negative share, injected periods where one topic's negative share jumps, some posts with an
image (text rendered into pixels, or a FER2013 face) or audio (an Emo-DB clip), and some invalid messages.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.data import default_data_dir, read_tsv

FALLBACK = {
    "negative": ["Terrible quarter, guidance cut again", "This is a disaster, selling everything",
                 "Worst customer service ever, never again", "Shares plunge after earnings miss"],
    "neutral": ["Company to present at the conference on Tuesday", "Trading volume was average today",
                "The meeting is scheduled for next week", "Shares were unchanged in early trading"],
    "positive": ["Great results, beat on revenue and EPS", "Love the new product, amazing quality",
                 "Shares soar on strong guidance", "Best launch in years, very impressed"],
}
CASHTAG_RE = re.compile(r"\$[A-Za-z]{1,6}\b")


@dataclass
class TopicSpec:
    name: str
    kind: str  # cashtag | keyword
    weight: float
    base_neg: float


@dataclass
class Spike:
    topic: str
    start_s: float  # offset from stream start, event time
    duration_s: float
    neg: float  # negative share during the spike


# Media shares sized for OCR's ~1 image/s on a 2-core CPU (the demo's and the soak's stream)
CPU_IMAGE_SHARE, CPU_AUDIO_SHARE = 0.012, 0.006

@dataclass
class StreamSpec:
    seed: int = 7
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    rate_per_event_s: float = 2.0
    invalid_share: float = 0.02
    image_share: float = 0.04
    audio_share: float = 0.02
    topics: list[TopicSpec] = field(default_factory=lambda: [
        TopicSpec("AAPL", "cashtag", 3.0, 0.22), TopicSpec("TSLA", "cashtag", 2.5, 0.30),
        TopicSpec("NVDA", "cashtag", 2.0, 0.18), TopicSpec("AMZN", "cashtag", 1.2, 0.22),
        TopicSpec("GME", "cashtag", 0.8, 0.35), TopicSpec("acme", "keyword", 1.0, 0.20),
        TopicSpec("globex", "keyword", 0.5, 0.25), TopicSpec("", "none", 1.0, 0.25),
    ])
    spikes: list[Spike] = field(default_factory=list)


def demo_spikes(total_event_s: float) -> list[Spike]:
    """Three spikes spread over the run (one cashtag, one brand, one large-volume ticker)."""
    return [Spike("TSLA", 0.30 * total_event_s, 0.12 * total_event_s, 0.80),
            Spike("acme", 0.55 * total_event_s, 0.12 * total_event_s, 0.85),
            Spike("AAPL", 0.78 * total_event_s, 0.10 * total_event_s, 0.75)]


class TextPool:
    def __init__(self, data_dir: Path | None = None) -> None:
        d = data_dir or default_data_dir()
        self.by_label: dict[str, list[str]] = {k: [] for k in FALLBACK}
        for name in ("fin_tweets_train.tsv", "tweets_sentiment_dev.tsv"):
            path = d / "text" / name
            if path.is_file():
                for row in read_tsv(path):
                    text = CASHTAG_RE.sub("", row.get("text") or "").strip()[:280]
                    if row.get("label") in self.by_label and len(text) >= 3:
                        self.by_label[row["label"]].append(text)
        for k, v in FALLBACK.items():
            if len(self.by_label[k]) < 10:
                self.by_label[k].extend(v)
        self.emodb = sorted((d / "audio" / "emodb").glob("*.wav")) if (d / "audio" / "emodb").is_dir() else []
        # FER2013 dev faces (never the train split) by sentiment: negative = angry/fear/sad, positive = happy
        self.faces: dict[str, Any] = {}
        fer = d / "image" / "fer2013_dev.npz"
        if fer.is_file():
            import numpy as np

            z = np.load(fer)
            classes = [str(c) for c in z["classes"]]
            groups = {"negative": ("angry", "fear", "sad"), "positive": ("happy",), "neutral": ("neutral",)}
            for label, names in groups.items():
                idx = [classes.index(n) for n in names]
                self.faces[label] = z["images"][np.isin(z["labels"], idx)][:300]


def face_png(face: Any) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC))
    return bytes(buf) if ok else b""


def render_text_png(text: str) -> bytes:
    import cv2
    import numpy as np

    img = np.full((120, 640, 3), 255, np.uint8)
    for i, line in enumerate([text[j:j + 40] for j in range(0, min(len(text), 120), 40)]):
        cv2.putText(img, line, (10, 35 + 35 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    ok, buf = cv2.imencode(".png", img)
    return bytes(buf) if ok else b""


def _invalid(rng: random.Random, i: int) -> tuple[bytes, str]:
    kind = rng.choice(["invalid_json", "schema", "no_content", "bad_base64", "bad_mime", "bad_image"])
    if kind == "invalid_json":
        return b'{"id": "broken-' + str(i).encode() + b'", "text": ', kind
    if kind == "schema":
        return json.dumps({"text": "missing id and time"}).encode(), kind
    if kind == "no_content":
        return json.dumps({"id": f"empty-{i}", "created_at": 0, "text": "  "}).encode(), kind
    if kind == "bad_base64":
        return json.dumps({"id": f"b64-{i}", "created_at": 0, "text": "see pic",
                           "media": [{"kind": "image", "mime": "image/png", "data": "@@not base64@@"}]}).encode(), kind
    if kind == "bad_image":  # valid base64, corrupt PNG: rejected by the image decoder
        data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(64))).decode()
        return json.dumps({"id": f"img-{i}", "created_at": 0, "text": "look",
                           "media": [{"kind": "image", "mime": "image/png", "data": data}]}).encode(), kind
    return json.dumps({"id": f"mime-{i}", "created_at": 0, "text": "listen",
                       "media": [{"kind": "audio", "mime": "image/png", "data": "AAAA"}]}).encode(), kind


def generate(spec: StreamSpec, n: int, pool: TextPool | None = None) -> Iterator[dict[str, Any]]:
    """Yield n items: {key, value (bytes), event_ms, valid, label, topic, reason}. Deterministic for spec.seed."""
    rng = random.Random(spec.seed)
    pool = pool or TextPool()
    weights = [t.weight for t in spec.topics]
    t_event = 0.0
    for i in range(n):
        t_event += rng.expovariate(spec.rate_per_event_s)
        event_ms = spec.start_ms + int(t_event * 1000)
        if rng.random() < spec.invalid_share:
            value, reason = _invalid(rng, i)
            yield {"key": None, "value": value, "event_ms": event_ms, "valid": False, "reason": reason,
                   "label": None, "topic": None, "id": None}
            continue
        topic = rng.choices(spec.topics, weights)[0]
        neg = topic.base_neg
        for s in spec.spikes:
            if s.topic == topic.name and s.start_s <= t_event < s.start_s + s.duration_s:
                neg = s.neg
        r = rng.random()
        label = "negative" if r < neg else ("positive" if r < neg + (1 - neg) * 0.45 else "neutral")
        text = rng.choice(pool.by_label[label])
        if topic.kind == "cashtag":
            text = f"${topic.name} {text}"
        elif topic.kind == "keyword":
            text = f"{topic.name.capitalize()}: {text}"
        post: dict[str, Any] = {"id": f"p{spec.seed}-{i:07d}", "created_at": event_ms,
                                "source": rng.choice(["twitter", "stocktwits", "reddit", "news"]),
                                "author": f"user{rng.randrange(5000)}", "lang": "en", "text": text}
        u = rng.random()
        if u < spec.image_share and pool.faces and rng.random() < 0.35:
            faces = pool.faces[label]  # neutral text + a face whose expression carries the sentiment
            png = face_png(faces[rng.randrange(len(faces))])
            post["media"] = [{"kind": "image", "mime": "image/png", "data": base64.b64encode(png).decode()}]
            post["text"] = f"${topic.name} today" if topic.kind == "cashtag" else f"{topic.name or 'this'} today"
        elif u < spec.image_share:
            png = render_text_png(text)
            post["media"] = [{"kind": "image", "mime": "image/png", "data": base64.b64encode(png).decode()}]
            if rng.random() < 0.5:
                post.pop("text")  # meaning only in the pixels
                post["topics"] = [topic.name] if topic.name else []
        elif u < spec.image_share + spec.audio_share and pool.emodb:
            wav = rng.choice(pool.emodb).read_bytes()
            post["media"] = [{"kind": "audio", "mime": "audio/wav", "data": base64.b64encode(wav).decode()}]
            post["topics"] = [topic.name] if topic.name else []
        yield {"key": post["id"], "value": json.dumps(post).encode(), "event_ms": event_ms, "valid": True,
               "reason": None, "label": label, "topic": topic.name or None, "id": post["id"]}
