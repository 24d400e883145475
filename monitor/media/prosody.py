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


# a1: the original 186-d set; r1: speaker-robust (no timbre / absolute-pitch levels); a1r1: both (330-d)
FEATURE_SETS = ("a1", "r1", "a1r1")
DEFAULT_FEATURE_SET = "a1"


def _stats(m: np.ndarray) -> list[float]:
    return [*m.mean(axis=1), *m.std(axis=1)]


def _analyse(y: np.ndarray, sr: int) -> dict[str, Any]:
    """Frame-level analyses shared by every feature set (one STFT, one pitch track)."""
    import librosa

    if len(y) < sr // 10:
        y = np.pad(y, (0, sr // 10 - len(y)))
    y = y / (np.abs(y).max() + 1e-6)
    n_fft, hop = 512, 160
    s = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mel = librosa.feature.melspectrogram(S=s, sr=sr, n_mels=40)
    logmel = librosa.power_to_db(mel + 1e-10)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=20)
    rms = librosa.feature.rms(S=np.sqrt(s), frame_length=n_fft)[0]
    voiced = rms > 0.1 * rms.max()
    f0 = librosa.yin(y, fmin=60, fmax=450, sr=sr, frame_length=1024, hop_length=hop)
    f0v = f0[: len(voiced)][voiced[: len(f0)]] if voiced.any() else f0
    spec = [librosa.feature.spectral_centroid(S=s, sr=sr)[0] / 4000, librosa.feature.spectral_bandwidth(S=s, sr=sr)[0]
            / 4000, librosa.feature.spectral_rolloff(S=s, sr=sr)[0] / 8000, librosa.feature.spectral_flatness(S=s)[0],
            librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0]]
    return {"y": y, "sr": sr, "hop": hop, "s": s, "freqs": librosa.fft_frequencies(sr=sr, n_fft=n_fft),
            "logmel": logmel, "mfcc": mfcc, "d_mfcc": librosa.feature.delta(mfcc),
            "dd_mfcc": librosa.feature.delta(mfcc, order=2), "rms": rms, "voiced": voiced,
            "lf0": np.log(np.clip(f0v, 60, 450)), "spec": spec,
            "contrast": librosa.feature.spectral_contrast(S=s, sr=sr, n_bands=6)}


def _pitch_dynamics(lf0: np.ndarray) -> list[float]:
    """Speaker-independent pitch statistics: spread, range, slope, local variation (no absolute level)."""
    return [lf0.std(), np.percentile(lf0, 90) - np.percentile(lf0, 10),
            float(np.polyfit(np.arange(len(lf0)), lf0, 1)[0] * 100) if len(lf0) > 2 else 0.0,
            float(np.abs(np.diff(lf0)).mean()) if len(lf0) > 1 else 0.0]


def _energy(rms: np.ndarray, voiced: np.ndarray) -> list[float]:
    return [float(np.log(rms.mean() + 1e-6)), float(rms.std() / (rms.mean() + 1e-6)), float(voiced.mean()),
            float(np.abs(np.diff(rms)).mean() / (rms.mean() + 1e-6))]


def _vec_a1(a: dict[str, Any]) -> list[float]:
    lf0 = a["lf0"]
    pitch = [lf0.mean(), *_pitch_dynamics(lf0)]
    shape = [v for arr in a["spec"] for v in (float(arr.mean()), float(arr.std()))]
    return [*_stats(a["mfcc"]), *_stats(a["d_mfcc"]), *a["logmel"].mean(axis=1), *a["logmel"].std(axis=1), *pitch,
            *_energy(a["rms"], a["voiced"]), *shape, *a["contrast"].mean(axis=1)]


def _vec_r1(a: dict[str, Any]) -> list[float]:
    """Speaker-robust: dynamics of the spectrum and pitch, vocal-effort cues (spectral tilt, alpha ratio,
    Hammarberg index), rhythm (energy-peak rate, pauses); no MFCC means, absolute log-Mel levels or mean pitch,
    which mostly encode who speaks (timbre, vocal-tract length, gender) rather than how."""
    logmel, rms, voiced, s, fr = a["logmel"], a["rms"], a["voiced"], a["s"], a["freqs"]
    sv = s[:, voiced] if voiced.any() else s
    band = (logmel.mean(axis=1) - logmel.mean()).reshape(8, 5).mean(axis=1)  # coarse tilt: 8 groups of 5 mel bands

    def db(lo: float, hi: float, how: str = "sum") -> np.ndarray:
        sel = sv[(fr >= lo) & (fr < hi)]
        return 10 * np.log10((sel.sum(axis=0) if how == "sum" else sel.max(axis=0)) + 1e-10)

    alpha = float((db(50, 1000) - db(1000, 5000)).mean())
    hammarberg = float((db(0, 2000, "max") - db(2000, 5000, "max")).mean())
    # rhythm: peaks of the smoothed energy envelope per second of speech, pause share and mean pause length
    env = np.convolve(rms, np.ones(5) / 5, mode="same")
    thr = 0.1 * env.max()
    peaks = int(((env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:]) & (env[1:-1] > 3 * thr)).sum())
    idx = np.flatnonzero(voiced)
    span = voiced[idx[0]: idx[-1] + 1] if len(idx) else voiced
    sec = len(span) * a["hop"] / a["sr"]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[1, span.astype(int), 1]) != 0))[1::2] if (~span).any() else []
    rhythm = [peaks / max(sec, 0.1), float((~span).mean()), float(np.mean(runs) * a["hop"] / a["sr"]) if len(runs)
              else 0.0]
    frame_db = 10 * np.log10(s.sum(axis=0) + 1e-10)
    frame_db = np.maximum(frame_db, frame_db.max() - 60)  # digital silence would dominate the range
    loud = [float(np.percentile(frame_db, 80) - np.percentile(frame_db, 20))]
    shape = [v for arr in a["spec"] for v in (float(arr.mean()), float(arr.std()))]
    return [*a["mfcc"][1:].std(axis=1), *a["d_mfcc"].std(axis=1), *a["dd_mfcc"].std(axis=1), *logmel.std(axis=1),
            *band, alpha, hammarberg, *_pitch_dynamics(a["lf0"]), *_energy(rms, voiced)[1:], *rhythm, *loud,
            *shape, *a["contrast"].mean(axis=1), *a["contrast"].std(axis=1)]


_VECTORS = {"a1": _vec_a1, "r1": _vec_r1, "a1r1": lambda a: [*_vec_a1(a), *_vec_r1(a)]}


def feature_sets(y: np.ndarray, sr: int = SR, kinds: tuple[str, ...] = FEATURE_SETS) -> dict[str, np.ndarray]:
    """Every requested feature set of one clip, from one shared analysis."""
    unknown = [k for k in kinds if k not in _VECTORS]
    if unknown:
        raise ValueError(f"unknown voice feature sets {unknown}; known: {', '.join(FEATURE_SETS)}")
    a = _analyse(y, sr)
    return {k: np.nan_to_num(np.asarray(_VECTORS[k](a), dtype=np.float32)) for k in kinds}


def features(y: np.ndarray, sr: int = SR, kind: str = DEFAULT_FEATURE_SET) -> np.ndarray:
    """One fixed-length vector per clip (any length >= 0.1 s) of feature set `kind` (FEATURE_SETS)."""
    return feature_sets(y, sr, (kind,))[kind]


class VoiceEmotionModel:
    def __init__(self, path: Path | None = None) -> None:
        path = Path(path or DEFAULT_VOICE_ARTEFACT)
        z = np.load(path / "model.npz")
        self.mean, self.std, self.w, self.b = z["mean"], z["std"], z["w"], z["b"]
        self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
        self.classes = tuple(self.meta["classes"])
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.version = f"voice-emodb-{self.meta.get('version', '0')}"
        self.kind = str(self.meta.get("features", "a1"))  # the feature set it was trained on
        if self.kind not in FEATURE_SETS:
            raise ValueError(f"{path}: voice feature set {self.kind!r} unknown to this version ({FEATURE_SETS})")
        if len(self.mean) != len(self.featurize(np.zeros(SR // 2, np.float32))):
            raise ValueError(f"{path}: {len(self.mean)} features stored, feature set {self.kind} has another size")

    def featurize(self, clip: np.ndarray) -> np.ndarray:
        """The model's own feature vector of one 16 kHz clip."""
        return features(clip, kind=self.kind)

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        logits = ((x - self.mean) / self.std) @ self.w + self.b
        logits = logits / self.temperature
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.predict_features(np.stack([self.featurize(c) for c in clips]))


def valence(probs: np.ndarray | list[float], classes: tuple[str, ...] = EMODB_CLASSES) -> tuple[list[float], float]:
    """Emotion probabilities -> ((negative, neutral, positive), arousal)."""
    p = np.asarray(probs, dtype=np.float64)
    v = np.zeros(3)
    for pi, c in zip(p, classes, strict=True):
        v += pi * np.asarray(VALENCE[c])
    arousal = float(sum(pi * AROUSAL[c] for pi, c in zip(p, classes, strict=True)))
    return (v / max(v.sum(), 1e-9)).round(4).tolist(), round(arousal, 4)
