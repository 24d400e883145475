"""Image encoders: OCR (RapidOCR, ONNX models shipped in its wheel), faces (opencv Haar cascade + the face CNN),
and a compact visual embedding (colour / texture / sharpness statistics + the CNN's penultimate layer on the whole
image). Everything loads offline; heavy models load once per process, lazily."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[str, Any] = {}
SMALL_FACE_IMAGE = 128  # an image this small with no detected face is taken as a face crop (FER-style)


@dataclass
class ImageEvidence:
    text: str = ""
    ocr_confidence: float = 0.0
    faces: int = 0
    face_probs: list[float] | None = None  # mean expression probabilities over faces (FER_CLASSES order)
    face_emb: list[float] | None = None  # mean face-CNN embedding over faces (input of the alignment)
    visual: list[float] = field(default_factory=list)  # visual embedding (STATS_DIM + 128)
    seconds: dict[str, float] = field(default_factory=dict)


# Cheap OCR (hot path v2). RapidOCR's defaults scale the *shorter* side of every image up to 736 px before text
# detection (a 427x143 meme becomes 2198x736) and run an angle classifier on every box: ~1 image/s on one core.
# Here detection runs on the image scaled so its *longer* side is at most OCR_DET_MAX_SIDE (small images are not
# enlarged), recognition only on the boxes detection found (none: no recognition at all, a photo without text
# costs one small detection pass), at most OCR_MAX_BOXES boxes per image, recognised in batches of
# OCR_REC_BATCH crops, and no angle classifier (posts are upright; the rendered eval includes ±4° rotation).
# `monitor bench-media` measures both settings in one run; `monitor eval ocr [--baseline]` their CER.
OCR_DET_MAX_SIDE = 960
OCR_MAX_BOXES = 48
OCR_REC_BATCH = 16


def _ocr(fast: bool = True) -> Any:
    key = "ocr" if fast else "ocr_baseline"
    with _lock:
        if key not in _cache:
            from rapidocr_onnxruntime import RapidOCR

            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            if not fast:
                _cache[key] = RapidOCR()
            else:
                ocr = RapidOCR(det_limit_side_len=OCR_DET_MAX_SIDE, det_limit_type="max", use_cls=False)
                post = getattr(ocr.text_det, "postprocess_op", None)
                if post is not None and hasattr(post, "max_candidates"):
                    post.max_candidates = OCR_MAX_BOXES
                if hasattr(ocr.text_rec, "rec_batch_num"):
                    ocr.text_rec.rec_batch_num = OCR_REC_BATCH
                _cache[key] = ocr
        return _cache[key]


def _cascade() -> Any:
    with _lock:
        if "haar" not in _cache:
            import cv2

            _cache["haar"] = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        return _cache["haar"]


def face_model(path: Any = None) -> Any:
    with _lock:
        if "faces" not in _cache:
            from monitor.media.face_model import FaceExpressionModel

            _cache["faces"] = FaceExpressionModel(path)
        return _cache["faces"]


def ocr_text(rgb: np.ndarray, min_score: float = 0.5, fast: bool = True) -> tuple[str, float]:
    """Lines in reading order (top to bottom, left to right) and their mean confidence. `fast=False`: RapidOCR's
    default settings (the pre-v2 baseline, for comparison)."""
    import cv2

    result, _ = _ocr(fast)(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not result:
        return "", 0.0
    boxes = [(float(np.mean([p[1] for p in box])), min(p[0] for p in box), abs(box[2][1] - box[0][1]), text,
              float(score)) for box, text, score in result if float(score) >= min_score and text.strip()]
    if not boxes:
        return "", 0.0
    boxes.sort(key=lambda b: b[0])
    rows: list[list[tuple[float, float, float, str, float]]] = []
    for b in boxes:  # same line when the vertical centres are within half a text height
        if rows and abs(b[0] - np.mean([r[0] for r in rows[-1]])) <= 0.5 * max(b[2], rows[-1][0][2], 1.0):
            rows[-1].append(b)
        else:
            rows.append([b])
    ordered = [b for row in rows for b in sorted(row, key=lambda r: r[1])]
    return " ".join(b[3] for b in ordered), float(np.mean([b[4] for b in ordered]))


def detect_faces(rgb: np.ndarray, max_faces: int = 8) -> list[np.ndarray]:
    """48×48 grey face crops (largest first). A small image with no detection is treated as one face crop."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    found = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    crops = []
    for x, y, fw, fh in sorted((tuple(f) for f in found), key=lambda f: -f[2] * f[3])[:max_faces]:
        crops.append(cv2.resize(grey[y:y + fh, x:x + fw], (48, 48), interpolation=cv2.INTER_AREA))
    if not crops and max(h, w) <= SMALL_FACE_IMAGE and 0.75 <= h / max(w, 1) <= 1.33:
        crops.append(cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA))
    return crops


STATS_DIM = 24


def visual_stats(rgb: np.ndarray) -> np.ndarray:
    """Colour (hue histogram, saturation, value, colourfulness), texture (edge density, Laplacian variance,
    gradient energy) statistics: a 24-d vector in roughly [0, 1]."""
    import cv2

    small = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hue = np.histogram(hsv[..., 0], bins=12, range=(0, 180), weights=hsv[..., 1] / 255.0)[0]
    hue = hue / max(hue.sum(), 1e-6)
    s, v = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    r, g, b = (small[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = (np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)) / 255
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, 80, 160).mean() / 255
    lap = min(cv2.Laplacian(grey, cv2.CV_32F).var() / 2000.0, 1.0)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    grad = min(float(np.sqrt(gx ** 2 + gy ** 2).mean()) / 255.0, 1.0)
    dark = float((v < 0.2).mean())
    bright = float((v > 0.85).mean())
    return np.array([*hue, s.mean(), s.std(), v.mean(), v.std(), colourful, edges, lap, grad, dark, bright,
                     float((s < 0.1).mean()), float(np.abs(rg).mean() / 255)], dtype=np.float32)


def encode_images(images: list[np.ndarray], do_ocr: bool = True, visual: bool = True) -> list[ImageEvidence]:
    """Batch: OCR per image, faces of all images through the CNN in one batch, and (visual=True) the visual
    embedding: statistics + whole-image CNN embedding. The worker passes visual=False until the fusion model
    consumes the embedding, so no unused work sits on its per-post path."""
    import time

    import cv2

    out = [ImageEvidence() for _ in images]
    t0 = time.perf_counter()
    if do_ocr:
        for ev, img in zip(out, images, strict=True):
            ev.text, ev.ocr_confidence = ocr_text(img)
    t1 = time.perf_counter()
    crops, owner = [], []
    for i, img in enumerate(images):
        for c in detect_faces(img):
            crops.append(c)
            owner.append(i)
    whole = [cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)
             for img in images] if visual else []
    try:
        model = face_model()
    except FileNotFoundError:  # no trained face model: no face evidence, zero CNN embedding
        model, crops, owner = None, [], []
    probs, crop_emb = model.predict(np.stack(crops)) if crops and model else (np.zeros((0, 7)), np.zeros((0, 128)))
    _, emb = model.predict(np.stack(whole)) if whole and model else (None, np.zeros((len(images), 128)))
    for i, ev in enumerate(out):
        mine = [probs[k] for k, o in enumerate(owner) if o == i]
        ev.faces = len(mine)
        ev.face_probs = np.mean(mine, axis=0).round(4).tolist() if mine else None
        mine_emb = [crop_emb[k] for k, o in enumerate(owner) if o == i]
        ev.face_emb = np.mean(mine_emb, axis=0).tolist() if mine_emb else None
        if visual:
            ev.visual = np.concatenate([visual_stats(images[i]), emb[i]]).round(4).tolist()
    t2 = time.perf_counter()
    n = max(len(images), 1)
    for ev in out:
        ev.seconds = {"ocr": (t1 - t0) / n, "faces": (t2 - t1) / n}
    return out
