"""Facial-expression CNN for 48×48 grey faces (FER2013 classes), trained here (`monitor train faces`).

Its 128-d penultimate layer is the face embedding the fusion stage aligns with text. The artefact is an fp16
safetensors file (~1 MB) plus meta.json (classes, temperature, dev metrics).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
DEFAULT_FACE_ARTEFACT = Path(__file__).resolve().parent.parent / "models" / "faces-cnn"
EMBED_DIM = 128


def _block(cin: int, cout: int, drop: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Dropout(drop))


class FaceNet(nn.Module):
    def __init__(self, width: int = 32, n_classes: int = len(FER_CLASSES)) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(_block(1, w, 0.1), _block(w, 2 * w, 0.15), _block(2 * w, 4 * w, 0.2),
                                      _block(4 * w, 8 * w, 0.25))  # 48 -> 3
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(8 * w * 9, EMBED_DIM), nn.BatchNorm1d(EMBED_DIM),
                                   nn.ReLU(inplace=True))
        self.drop = nn.Dropout(0.4)
        self.head = nn.Linear(EMBED_DIM, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (n, 1, 48, 48) in [0, 1]. Returns (logits, embedding)."""
        e = self.embed(self.features((x - 0.5) / 0.25))
        return self.head(self.drop(e)), e


def save_face_model(model: FaceNet, out: Path, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().half().contiguous() for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")}, str(out / "model.safetensors"))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


class FaceExpressionModel:
    """Loaded model: probabilities and embeddings for batches of 48×48 grey faces (uint8 or float)."""

    def __init__(self, path: Path | None = None, device: str | None = None) -> None:
        from safetensors.torch import load_file

        path = Path(path or DEFAULT_FACE_ARTEFACT)
        self.meta = json.loads((path / "meta.json").read_text())
        self.classes = tuple(self.meta["classes"])
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = FaceNet(self.meta.get("width", 32), len(self.classes))
        state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
        self.model.load_state_dict(state, strict=False)
        self.model.eval().to(self.device)
        self.version = f"faces-cnn-{self.meta.get('version', '0')}"

    @torch.inference_mode()
    def predict(self, faces: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """faces: (n, 48, 48). Returns (probs (n, 7), embeddings (n, 128))."""
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, EMBED_DIM), np.float32)
        x = torch.as_tensor(np.asarray(faces, np.float32) / (255.0 if faces.dtype == np.uint8 else 1.0))
        probs, embs = [], []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch, None].to(self.device)
            logits, e = self.model(xb)
            # test-time augmentation: average with the mirrored face
            logits_f, e_f = self.model(torch.flip(xb, dims=[3]))
            probs.append(torch.softmax((logits + logits_f) / (2 * self.temperature), -1).cpu().numpy())
            embs.append(((e + e_f) / 2).cpu().numpy())
        return np.concatenate(probs), np.concatenate(embs)
