"""Measurements of the media encoders on data made here from held-out text:

- `monitor eval ocr`: character error rate of OCR on images rendered from dev-split sentences (fin_phrasebank's
  carved dev split and tweets_sentiment_dev) with varied fonts, sizes, colours, rotation, blur, JPEG and noise.
- `monitor eval asr`: word error rate of VAD + Whisper tiny.en on speech synthesised by espeak-ng from the same
  kind of sentences (several voices and speeds).
- the synthetic inputs live in `monitor.media.samples`; the speed bench in `monitor.media.bench`.
"""

from __future__ import annotations

import random
import re
from typing import Any

from monitor.media.samples import espeak_wav, render_text_image


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
