"""Audio decoding with hard limits: WAV / FLAC / OGG (Vorbis, Opus) / MP3 via libsndfile, to 16 kHz mono float32.

Duration is read from the header and checked before decoding (`audio_too_long`); corrupt or unsupported data ->
`bad_audio`; silence-only or empty -> decoded (the VAD reports no speech).
"""

from __future__ import annotations

import io

import numpy as np

from monitor.media import MediaError

SR = 16_000
MAX_SECONDS = 300.0


def decode_audio(data: bytes, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    import soundfile as sf

    if not data:
        raise MediaError("bad_audio", "empty audio")
    try:
        info = sf.info(io.BytesIO(data))
        if info.samplerate <= 0 or info.channels <= 0:
            raise MediaError("bad_audio", f"invalid header: {info.samplerate} Hz, {info.channels} channels")
        if info.frames > 0 and info.frames / info.samplerate > max_seconds:
            raise MediaError("audio_too_long", f"{info.frames / info.samplerate:.0f} s exceeds {max_seconds:.0f} s")
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True,
                        frames=int(max_seconds * info.samplerate) + 1)
    except MediaError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise MediaError("bad_audio", f"{type(exc).__name__}: {exc}"[:200]) from exc
    if len(y) / sr > max_seconds:
        raise MediaError("audio_too_long", f"exceeds {max_seconds:.0f} s")
    y = y.mean(axis=1)
    if not np.all(np.isfinite(y)):
        raise MediaError("bad_audio", "non-finite samples")
    if sr != SR and len(y):
        import soxr

        y = soxr.resample(y, sr, SR).astype(np.float32)
    return np.ascontiguousarray(y, dtype=np.float32)
