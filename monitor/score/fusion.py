"""Learned fusion of modality tokens (fusion issue, item 2): pure torch/numpy, no Kafka, no encoders.

A post's evidence becomes up to five modality tokens (MODALITIES) plus a presence mask. Each token carries
  - the modality's own (negative, neutral, positive) evidence and its log (text model on the post text, OCR text and
    transcript; FER expressions -> valence for faces; Emo-DB emotions -> valence for the voice),
  - its cosine similarity to the three sentiment prototypes in the text encoder's space after the learned
    alignment (`monitor train align`: face CNN embedding / prosody features projected into the MiniLM space; zero
    for the text modalities, which live in that space already and whose head is the text model),
  - one quality scalar (text length, number of faces, seconds of speech).
FusionNet: token MLP + learned modality embedding -> attention logits, masked softmax over the present tokens
(= the per-modality contribution weights recorded in `posts.scored`) -> pooled vector -> 3 logits, plus a learned
multiple of the attention-weighted sum of the tokens' log-evidence (a skip path, so a confident single modality
passes through). Temperature-calibrated on dev. Missing modalities are masked; several images per post are
pooled upstream (OCR text joined, face expressions averaged over all faces of all images).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

MODALITIES = ("text", "image_text", "speech_text", "face", "voice")
N_FEAT = 10  # 3 evidence + 3 log-evidence + 3 aligned sims + 1 quality
DEFAULT_FUSION_ARTEFACT = Path(__file__).resolve().parents[1] / "models" / "fusion"
DEFAULT_ALIGN_ARTEFACT = Path(__file__).resolve().parents[1] / "models" / "align"


def token_features(by_modality: dict[str, list[float]], aux: dict[str, dict[str, Any]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """-> (tokens (M, N_FEAT) float32, mask (M,) bool) for one post."""
    x = np.zeros((len(MODALITIES), N_FEAT), np.float32)
    mask = np.zeros(len(MODALITIES), bool)
    for k, m in enumerate(MODALITIES):
        v = by_modality.get(m)
        if v is None:
            continue
        p = np.clip(np.asarray(v, np.float64), 1e-4, 1.0)
        p = p / p.sum()
        a = aux.get(m, {})
        sims = a.get("aligned") or (0.0, 0.0, 0.0)
        x[k] = [*p, *np.log(p), *sims, float(a.get("quality", 0.0))]
        mask[k] = True
    return x, mask


class FusionNet(nn.Module):
    def __init__(self, n_feat: int = N_FEAT, d: int = 32, n_mod: int = len(MODALITIES)) -> None:
        super().__init__()
        self.inp = nn.Linear(n_feat, d)
        self.mod = nn.Parameter(torch.zeros(n_mod, d))
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.att = nn.Linear(d, 1)
        self.out = nn.Linear(d, 3)
        self.skip = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, M, F), mask (B, M) bool -> (logits (B, 3), weights (B, M)); a row with no token gets zeros."""
        h = self.mlp(self.inp(x) + self.mod[None])
        a = self.att(h).squeeze(-1).masked_fill(~mask, -1e9)
        w = torch.softmax(a, dim=-1) * mask.any(-1, keepdim=True)
        pooled = (w[..., None] * h).sum(1)
        logits = self.out(pooled) + self.skip * (w[..., None] * x[..., 3:6]).sum(1)
        return logits, w


class FusionEnsemble(nn.Module):
    """Several FusionNets trained with different seeds: logits and attention weights are averaged (the averaged
    weights still sum to 1 over the present tokens), which removes most of one small net's seed-to-seed variance."""

    def __init__(self, members: list[FusionNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [m(x, mask) for m in self.members]
        return torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0)


def load_fusion_net(state: dict[str, torch.Tensor], d: int) -> FusionNet | FusionEnsemble:
    """A state dict saved from a FusionNet (older artefacts) or a FusionEnsemble (keys `members.<k>.…`)."""
    ks = sorted({int(k.split(".")[1]) for k in state if k.startswith("members.")})
    net: FusionNet | FusionEnsemble = (FusionEnsemble([FusionNet(d=d) for _ in ks]) if ks else FusionNet(d=d))
    net.load_state_dict(state)
    return net


class Aligner:
    """The alignment artefact: face / voice vectors -> MiniLM space -> cosine to the 3 sentiment prototypes."""

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.torch import load_file

        t = {k: v.float().numpy() for k, v in load_file(str(Path(path or DEFAULT_ALIGN_ARTEFACT)
                                                             / "align.safetensors")).items()}
        self.t = t
        p = t["text_prototypes"]
        self.protos = p / np.linalg.norm(p, axis=1, keepdims=True)

    def sims(self, z: np.ndarray) -> list[float]:
        """Cosine of a vector in the text space to the three sentiment prototypes (rounded as tokens are)."""
        z = z / max(float(np.linalg.norm(z)), 1e-9)
        return [round(float(s), 4) for s in self.protos @ z]

    def face(self, emb: np.ndarray) -> list[float]:
        x = (np.asarray(emb, np.float32) - self.t["face_mu"]) / self.t["face_sd"]
        return self.sims(self.t["face_w"] @ x + self.t["face_b"])

    def voice(self, standardized: np.ndarray) -> list[float]:
        return self.sims(self.t["voice_w"] @ np.asarray(standardized, np.float32) + self.t["voice_b"])


class FusionModel:
    """Loaded artefact: fuse(list of (by_modality, aux)) -> (probs (n, 3), weights per post)."""

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.torch import load_file

        path = Path(path or DEFAULT_FUSION_ARTEFACT)
        self.meta = json.loads((path / "meta.json").read_text())
        self.net = load_fusion_net({k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()},
                                   int(self.meta.get("d", 32))).eval()
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.version = f"fusion-{self.meta.get('version', '0')}"

    @staticmethod
    def available(path: Path | None = None) -> bool:
        p = Path(path or DEFAULT_FUSION_ARTEFACT)
        return (p / "model.safetensors").exists() and (p / "meta.json").exists()

    @torch.inference_mode()
    def fuse(self, items: list[tuple[dict[str, list[float]], dict[str, dict[str, Any]]]]
             ) -> tuple[np.ndarray, list[dict[str, float]]]:
        if not items:
            return np.zeros((0, 3)), []
        feats = [token_features(b, a) for b, a in items]
        x = torch.tensor(np.stack([f[0] for f in feats]))
        mask = torch.tensor(np.stack([f[1] for f in feats]))
        logits, w = self.net(x, mask)
        probs = torch.softmax(logits / self.temperature, -1).numpy()
        weights = [{m: round(float(w[i, k]), 4) for k, m in enumerate(MODALITIES) if mask[i, k]}
                   for i in range(len(items))]
        return probs, weights
