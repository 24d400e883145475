"""Prosody / vocal emotion: librosa features (MFCC, log-Mel, pitch, energy, spectral shape) -> a multinomial
logistic model trained on Emo-DB (`monitor train voice`), stored as numpy arrays (scaler + weights, ~30 kB).
Emotion probabilities map to valence (negative / neutral / positive evidence) and arousal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

SR = 16_000
EMODB_CLASSES = ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")
DEFAULT_VOICE_ARTEFACT = Path(__file__).resolve().parent.parent / "models" / "voice-emodb"
# valence per emotion as (negative, neutral, positive) shares; arousal in [0, 1]
VALENCE = {"anger": (1, 0, 0), "boredom": (0.5, 0.5, 0), "disgust": (1, 0, 0), "fear": (1, 0, 0),
           "happiness": (0, 0, 1), "neutral": (0, 1, 0), "sadness": (1, 0, 0)}
AROUSAL = {"anger": 1.0, "boredom": 0.1, "disgust": 0.5, "fear": 0.9, "happiness": 0.8, "neutral": 0.4,
           "sadness": 0.2}


def _stats(m: np.ndarray) -> list[float]:
    return [*m.mean(axis=1), *m.std(axis=1)]


def features(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """One fixed-length vector per clip (any length >= 0.1 s)."""
    import librosa

    if len(y) < sr // 10:
        y = np.pad(y, (0, sr // 10 - len(y)))
    y = y / (np.abs(y).max() + 1e-6)
    n_fft, hop = 512, 160
    s = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mel = librosa.feature.melspectrogram(S=s, sr=sr, n_mels=40)
    logmel = librosa.power_to_db(mel + 1e-10)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=20)
    d_mfcc = librosa.feature.delta(mfcc)
    rms = librosa.feature.rms(S=np.sqrt(s), frame_length=n_fft)[0]
    voiced = rms > 0.1 * rms.max()
    f0 = librosa.yin(y, fmin=60, fmax=450, sr=sr, frame_length=1024, hop_length=hop)
    f0v = f0[: len(voiced)][voiced[: len(f0)]] if voiced.any() else f0
    lf0 = np.log(np.clip(f0v, 60, 450))
    pitch = [lf0.mean(), lf0.std(), np.percentile(lf0, 90) - np.percentile(lf0, 10),
             float(np.polyfit(np.arange(len(lf0)), lf0, 1)[0] * 100) if len(lf0) > 2 else 0.0,
             float(np.abs(np.diff(lf0)).mean()) if len(lf0) > 1 else 0.0]
    energy = [float(np.log(rms.mean() + 1e-6)), float(rms.std() / (rms.mean() + 1e-6)), float(voiced.mean()),
              float(np.abs(np.diff(rms)).mean() / (rms.mean() + 1e-6))]
    spec = [librosa.feature.spectral_centroid(S=s, sr=sr)[0] / 4000, librosa.feature.spectral_bandwidth(S=s, sr=sr)[0]
            / 4000, librosa.feature.spectral_rolloff(S=s, sr=sr)[0] / 8000, librosa.feature.spectral_flatness(S=s)[0],
            librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0]]
    shape = [v for arr in spec for v in (float(arr.mean()), float(arr.std()))]
    contrast = librosa.feature.spectral_contrast(S=s, sr=sr, n_bands=6)
    vec = [*_stats(mfcc), *_stats(d_mfcc), *logmel.mean(axis=1), *logmel.std(axis=1), *pitch, *energy, *shape,
           *contrast.mean(axis=1)]
    return np.nan_to_num(np.asarray(vec, dtype=np.float32))


class VoiceEmotionModel:
    def __init__(self, path: Path | None = None) -> None:
        path = Path(path or DEFAULT_VOICE_ARTEFACT)
        z = np.load(path / "model.npz")
        self.mean, self.std, self.w, self.b = z["mean"], z["std"], z["w"], z["b"]
        self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
        self.classes = tuple(self.meta["classes"])
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.version = f"voice-emodb-{self.meta.get('version', '0')}"

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        logits = ((x - self.mean) / self.std) @ self.w + self.b
        logits = logits / self.temperature
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.predict_features(np.stack([features(c) for c in clips]))


def valence(probs: np.ndarray | list[float], classes: tuple[str, ...] = EMODB_CLASSES) -> tuple[list[float], float]:
    """Emotion probabilities -> ((negative, neutral, positive), arousal)."""
    p = np.asarray(probs, dtype=np.float64)
    v = np.zeros(3)
    for pi, c in zip(p, classes, strict=True):
        v += pi * np.asarray(VALENCE[c])
    arousal = float(sum(pi * AROUSAL[c] for pi, c in zip(p, classes, strict=True)))
    return (v / max(v.sum(), 1e-9)).round(4).tolist(), round(arousal, 4)
