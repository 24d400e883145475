"""`monitor bench-media` and the media part of `monitor bench`: images/s and audio-seconds/s per media encoder
stage on this machine, on synthetic inputs (`media.samples`) made from fixed sentences."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from monitor.media.samples import espeak_wav, photo_without_text, render_text_image

SENTENCES = (
    "Shares fell sharply after the company cut its outlook", "Quarterly revenue beat analyst estimates",
    "The board approved a new buyback programme", "Regulators opened an inquiry into the merger",
    "Customers report outages across the region", "The recall covers two million vehicles",
    "Profit warning sends the stock lower", "New phone sells out in a few hours",
    "Management reaffirmed full year guidance", "Supply problems delay the product launch",
    "The dividend was raised by ten percent", "Analysts downgrade the shares to sell",
    "Record deliveries in the third quarter", "Factory fire halts production for weeks",
    "Union agrees a new three year contract", "The chief executive resigned on Monday",
    "Bond yields rose after the inflation report", "The company settled the patent lawsuit",
    "Weak demand hits the chip maker", "Strong holiday sales lift the retailer",
)


def bench_media(n_images: int = 20, n_clips: int = 10) -> dict[str, Any]:
    """Per-stage speed on this machine (one process; first call's model loading excluded)."""
    import cv2

    from monitor.media.audio import decode_audio
    from monitor.media.image import decode_image
    from monitor.media.prosody import VoiceEmotionModel
    from monitor.media.speech import speech_segments, transcribe
    from monitor.media.vision import detect_faces, face_model, ocr_text, visual_stats

    rng = random.Random(3)
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(max(n_images, n_clips))]
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
    photos = [photo_without_text(i) for i in range(5)]
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

