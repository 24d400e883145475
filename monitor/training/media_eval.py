"""Measurements of the media encoders on data made here from held-out text:

- `monitor eval ocr`: character error rate of OCR on images rendered from dev-split sentences (fin_phrasebank's
  carved dev split and tweets_sentiment_dev) with varied fonts, sizes, colours, rotation, blur, JPEG and noise.
- `monitor eval asr`: word error rate of VAD + Whisper tiny.en on speech synthesised by espeak-ng from the same
  kind of sentences (several voices and speeds).
- `monitor bench media`: images/s and audio-seconds/s per stage on this machine.
"""

from __future__ import annotations

import io
import random
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed-Oblique.ttf", "DejaVuSerif-Bold.ttf")


def held_sentences(n: int, seed: int = 5, max_chars: int = 60) -> list[str]:
    """Short sentences from the dev splits (never the train files)."""
    from monitor.training.text_data import load_splits

    _, dev = load_splits()
    rng = random.Random(seed)
    pool = [ex.text for name in ("fin_phrasebank_dev", "tweets_sentiment_dev") for ex in dev[name]]
    rng.shuffle(pool)
    out = []
    for t in pool:
        t = re.sub(r"https?://\S+|@\w+|\\?u[0-9a-f]{4}|&\w+;|[^\x20-\x7e]", " ", t)
        t = re.sub(r"\s+", " ", t).strip().strip('"')
        if len(t) > max_chars:
            t = t[:max_chars].rsplit(" ", 1)[0]
        if len(t) >= 12:
            out.append(t)
        if len(out) == n:
            break
    return out


def levenshtein(a: list[Any] | str, b: list[Any] | str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def render_text_image(text: str, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    """A headline-like image of `text` (wrapped to two lines when long), JPEG bytes, and its rendering params."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font_name = rng.choice(FONTS)
    size = rng.choice([18, 22, 28, 36, 44])
    font = ImageFont.truetype(str(FONT_DIR / font_name), size)
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) > 32 and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    bg = tuple(rng.randint(180, 255) for _ in range(3)) if rng.random() < 0.7 else tuple(rng.randint(0, 60)
                                                                                           for _ in range(3))
    fg = tuple(rng.randint(0, 70) for _ in range(3)) if sum(bg) > 380 else tuple(rng.randint(200, 255)
                                                                                  for _ in range(3))
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    img = Image.new("RGB", (width, (len(lines) + 1) * int(size * 1.4)), bg)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((size, int(size * 0.6) + i * int(size * 1.3)), line, fill=fg, font=font)
    angle = rng.uniform(-4, 4)
    img = img.rotate(angle, expand=True, fillcolor=bg)
    blur = rng.random() < 0.3
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(0.8))
    arr = np.asarray(img).astype(np.float32)
    noise = rng.choice([0.0, 4.0, 10.0])
    if noise:
        arr += np.random.default_rng(rng.randint(0, 10**6)).normal(0, noise, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    quality = rng.choice([40, 70, 92])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), {"font": font_name, "size": size, "angle": round(angle, 1), "blur": blur, "noise": noise,
                            "jpeg_quality": quality}


def _norm_chars(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def eval_ocr(n: int = 100, seed: int = 5, fast: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    from monitor.media.image import decode_image
    from monitor.media.vision import ocr_text

    rng = random.Random(seed)
    errors = chars = 0
    per_size: dict[int, list[int]] = {}
    examples = []
    for text in tqdm(held_sentences(n, seed), desc="OCR CER", leave=False):
        data, params = render_text_image(text, rng)
        got, _ = ocr_text(decode_image(data), fast=fast)
        ref, hyp = _norm_chars(text), _norm_chars(got)
        e = levenshtein(ref, hyp)
        errors += e
        chars += len(ref)
        per_size.setdefault(params["size"], [0, 0])
        per_size[params["size"]][0] += e
        per_size[params["size"]][1] += len(ref)
        if len(examples) < 5 and e:
            examples.append({"ref": ref, "hyp": hyp, **params})
    return {"task": "ocr", "ocr_settings": "fast" if fast else "baseline", "n_images": n, "chars": chars,
            "cer": errors / max(chars, 1),
            "cer_by_font_size": {str(k): v[0] / max(v[1], 1) for k, v in sorted(per_size.items())},
            "data": "sentences from fin_phrasebank dev split + tweets_sentiment_dev, rendered (6 DejaVu fonts, "
                    "18-44 px, ±4° rotation, blur, noise, JPEG 40-92)", "examples": examples}


def espeak_wav(text: str, voice: str = "en-us", speed: int = 160) -> bytes:
    r = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                       timeout=60, check=True)
    return r.stdout


def _norm_words(s: str) -> list[str]:
    s = re.sub(r"[^a-z0-9% ]+", " ", s.lower().replace("'", ""))
    return s.split()


def eval_asr(n: int = 40, seed: int = 7) -> dict[str, Any]:
    from tqdm import tqdm

    from monitor.media.audio import decode_audio
    from monitor.media.speech import speech_segments, transcribe

    rng = random.Random(seed)
    errs = words = 0
    seconds = 0.0
    vad_hits = 0
    examples = []
    for text in tqdm(held_sentences(n, seed), desc="ASR WER", leave=False):
        voice, speed = rng.choice(["en-us", "en-gb", "en-us+f3", "en-gb+m3"]), rng.choice([140, 160, 180])
        y = decode_audio(espeak_wav(text, voice, speed))
        seconds += len(y) / 16000
        vad_hits += bool(speech_segments(y))
        hyp = transcribe(y)
        ref_w, hyp_w = _norm_words(text), _norm_words(hyp)
        e = levenshtein(ref_w, hyp_w)
        errs += e
        words += len(ref_w)
        if len(examples) < 5 and e:
            examples.append({"ref": " ".join(ref_w), "hyp": " ".join(hyp_w), "voice": voice, "speed": speed})
    return {"task": "asr", "n_clips": n, "words": words, "wer": errs / max(words, 1), "audio_seconds": seconds,
            "vad_speech_detected": vad_hits / max(n, 1),
            "data": "sentences from fin_phrasebank dev split + tweets_sentiment_dev, espeak-ng (en-us, en-gb, "
                    "+f3/+m3 variants, 140-180 wpm)", "examples": examples}


def _photo_without_text(seed: int, h: int = 480, w: int = 640) -> np.ndarray:
    """A smooth noisy 640x480 RGB image with no text (stands in for a photo)."""
    import cv2

    img = np.random.default_rng(seed).normal(120, 40, (h, w, 3)).clip(0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (31, 31), 0)


def bench_media(n_images: int = 20, n_clips: int = 10) -> dict[str, Any]:
    """Per-stage speed on this machine (one process; first call's model loading excluded)."""
    import cv2

    from monitor.media.audio import decode_audio
    from monitor.media.image import decode_image
    from monitor.media.prosody import VoiceEmotionModel
    from monitor.media.speech import speech_segments, transcribe
    from monitor.media.vision import detect_faces, face_model, ocr_text, visual_stats

    rng = random.Random(3)
    texts = held_sentences(max(n_images, n_clips), 11)
    imgs = [render_text_image(t, rng)[0] for t in texts[:n_images]]
    wavs = [espeak_wav(t) for t in texts[:n_clips]]
    out: dict[str, Any] = {}

    def timed(name: str, fn: Any, items: list[Any], unit: float) -> list[Any]:
        fn(items[0])  # warm-up (model load)
        t0 = time.perf_counter()
        res = [fn(x) for x in items]
        out[name] = round(unit / ((time.perf_counter() - t0) / len(items)), 2)
        return res

    decoded = timed("image_decode_per_s", decode_image, imgs, 1.0)
    timed("image_ocr_per_s", ocr_text, decoded, 1.0)
    timed("image_ocr_baseline_per_s", lambda d: ocr_text(d, fast=False), decoded, 1.0)
    photos = [_photo_without_text(i) for i in range(5)]
    ocr_text(photos[0])
    t0 = time.perf_counter()
    for p in photos:
        ocr_text(p)
    out["image_ocr_photo_without_text_ms"] = round(1000 * (time.perf_counter() - t0) / len(photos), 1)
    timed("image_face_detect_per_s", detect_faces, decoded, 1.0)
    m = face_model()
    grey = [cv2.resize(cv2.cvtColor(d, cv2.COLOR_RGB2GRAY), (48, 48)) for d in decoded]
    timed("image_face_cnn_per_s", lambda g: m.predict(g[None]), grey, 1.0)
    timed("image_visual_stats_per_s", visual_stats, decoded, 1.0)
    clips = [decode_audio(w) for w in wavs]
    secs = float(np.mean([len(c) / 16000 for c in clips]))
    timed("audio_decode_seconds_per_s", decode_audio, wavs, secs)
    timed("audio_vad_seconds_per_s", speech_segments, clips, secs)
    timed("audio_asr_seconds_per_s", transcribe, clips, secs)
    vm = VoiceEmotionModel()
    timed("audio_prosody_seconds_per_s", lambda c: vm.predict([c]), clips, secs)
    out["mean_clip_seconds"] = round(secs, 2)
    return out
