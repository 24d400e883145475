"""`monitor train text-dapt`: domain-adaptive pre-training of the MiniLM encoder on unlabelled posts (#33.1).

Gururangan et al. 2020 ("Don't Stop Pretraining"): continue masked-language-model training of the encoder on texts of
the target domain before the supervised fine-tune. all-MiniLM-L6-v2 ships without an MLM head, so a fresh one is
built and tied to the word embeddings (dense + GELU + LayerNorm, then the word-embedding matrix as the decoder, plus
a bias). The word-embedding table stays frozen, as in the full fine-tune, so the artefact keeps not storing it.

The unlabelled pool holds only texts no model is selected on: the *training* parts of the labelled text sets (the
carved dev parts are left out), the MVSA training tweets and the real cashtag tweets of `streams/stocknet_dev`
(the detection dev stream: its texts are unlabelled for sentiment) minus the 246 posts of the finance-chatter dev set
(`fin_microblog.py`). 2 % of the pool (by a hash of the text) is held
out to report the masked-token loss before and after. The encoder is written as `encoder.safetensors` (every weight
but the word embeddings), the input of `monitor train text --init-encoder`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from monitor.score.text_norm import normaliser

FROZEN = "embeddings.word_embeddings.weight"


@dataclass
class DaptConfig:
    minutes: float = 30.0  # wall-time budget of the optimiser steps (the schedule is planned from the first steps)
    batch_size: int = 64
    lr: float = 5e-5
    head_lr: float = 5e-4
    warmup: float = 0.06
    # the fresh head alone first (encoder frozen, no backward through it): its first, random gradients would
    # otherwise reach the pre-trained encoder
    head_only_steps: int = 200
    mask_prob: float = 0.15
    max_length: int = 64
    normalise: str = "v1"  # as the fine-tune's texts
    heldout: float = 0.02
    seed: int = 13
    limit: int = 0  # >0: cap the pool (smoke tests only)


DAPT_HELP = {
    "minutes": "wall-time budget of the training steps (the schedule is planned from the first timed steps)",
    "batch_size": "texts per step", "lr": "encoder learning rate", "head_lr": "learning rate of the fresh MLM head",
    "warmup": "share of the encoder's steps with a linear warm-up",
    "head_only_steps": "first steps that train the fresh head alone (encoder frozen)",
    "mask_prob": "share of the tokens that are prediction targets (80 %% [MASK], 10 %% random, 10 %% kept)",
    "max_length": "tokens per text at most", "normalise": "text normaliser, as the fine-tune's ('v1')",
    "heldout": "share of the pool held out to report the masked-token loss", "seed": "random seed",
    "limit": "cap each source of the pool (smoke tests only; 0 = no cap)",
}


class MlmHead(nn.Module):
    """BERT's prediction head with the decoder tied to (and sharing) the encoder's word embeddings."""

    def __init__(self, embeddings: nn.Embedding) -> None:
        super().__init__()
        hidden = embeddings.weight.shape[1]
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.embeddings = embeddings
        self.bias = nn.Parameter(torch.zeros(embeddings.weight.shape[0]))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.norm(nn.functional.gelu(self.dense(hidden)))
        return h @ self.embeddings.weight.t() + self.bias


def unlabelled_pool(data_dir: Path | None = None, carve_seed: int = 13) -> dict[str, list[str]]:
    """Unlabelled texts by source, deduplicated across sources; never a dev text of the text model."""
    from monitor.data import default_data_dir, read_tsv
    from monitor.training.text_data import load_splits

    root = Path(data_dir) if data_dir else default_data_dir()
    train, dev = load_splits(root, seed=carve_seed)
    dev_texts = {e.text.strip() for exs in dev.values() for e in exs}
    sources: dict[str, list[str]] = {f"train:{d}": [e.text for e in exs] for d, exs in train.items()}
    for name in ("mvsa_multiple_train", "mvsa_single_train"):
        path = root / "text" / f"{name}.tsv"
        if path.is_file():
            sources[name] = [r["text"] for r in read_tsv(path)]
    stream = root / "streams" / "stocknet_dev" / "posts.jsonl.gz"
    if stream.is_file():
        with gzip.open(stream, "rt", encoding="utf-8") as f:
            sources["stocknet_dev_stream"] = [json.loads(line).get("text") or "" for line in f]
    from monitor.training.fin_microblog import DEV_FILE, match_key, read_set

    # the finance-chatter dev set's posts come from the stream: compared as its rules compare posts (no "RT @x:",
    # URLs, case or line breaks), so a retweet or a re-spaced copy of a dev post stays out too
    held_keys = {match_key(r["text"]) for r in read_set(DEV_FILE)} if DEV_FILE.is_file() else set()
    seen: set[str] = set(dev_texts)
    out: dict[str, list[str]] = {}
    for name, texts in sources.items():
        keep = []
        for t in texts:
            t = (t or "").strip()
            if len(t) >= 8 and t not in seen and match_key(t) not in held_keys:
                seen.add(t)
                keep.append(t)
        out[name] = keep
    return out


def _heldout(text: str, fraction: float, seed: int) -> bool:
    h = hashlib.blake2b(f"{seed}:{text}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < fraction


def mask_tokens(ids: torch.Tensor, mask: torch.Tensor, special: torch.Tensor, cfg: DaptConfig, mask_id: int,
                vocab: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: `mask_prob` of the real (non-special) tokens are targets; of those 80 % become [MASK], 10 %
    a random token, 10 % stay. Returns the corrupted ids and the labels (-100 where no target)."""
    prob = torch.full(ids.shape, cfg.mask_prob)
    prob[(mask == 0) | special] = 0.0
    targets = torch.bernoulli(prob, generator=gen).bool()
    labels = torch.where(targets, ids, torch.full_like(ids, -100))
    corrupt = ids.clone()
    r = torch.rand(ids.shape, generator=gen)
    corrupt[targets & (r < 0.8)] = mask_id
    rand = targets & (r >= 0.8) & (r < 0.9)
    corrupt[rand] = torch.randint(vocab, ids.shape, generator=gen)[rand]
    return corrupt, labels


class _Mlm(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = MlmHead(encoder.embeddings.word_embeddings)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
             train_encoder: bool = True) -> torch.Tensor:
        with torch.set_grad_enabled(train_encoder and torch.is_grad_enabled()):
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        sel = labels != -100
        logits = self.head(hidden[sel])  # only the targets go through the 30 522-wide decoder
        return nn.functional.cross_entropy(logits, labels[sel])


def _batches(seqs: list[list[int]], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Length-bucketed batches in random order: the fine-tune's `length_buckets` over one shuffled pass."""
    from monitor.training.text_train import length_buckets

    picks = [("pool", i) for i in rng.permutation(len(seqs)).tolist()]
    lengths = {"pool": [len(x) for x in seqs]}
    return [[i for _, i in batch] for batch in length_buckets(picks, lengths, batch_size, rng)]


def _collate(seqs: list[list[int]], special_ids: set[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ids and mask (the fine-tune's `collate`) and where the special tokens are."""
    from monitor.training.text_train import collate

    ids, mask = collate(seqs, torch.device("cpu"))
    return ids, mask, torch.isin(ids, torch.tensor(sorted(special_ids)))


@torch.no_grad()
def heldout_loss(model: _Mlm, seqs: list[list[int]], cfg: DaptConfig, tok: Any, seed: int = 0) -> float:
    """Mean masked-token cross-entropy on the held-out texts, with one fixed masking (same before and after)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    special_ids = set(tok.all_special_ids)
    total, n = 0.0, 0
    for s in range(0, len(seqs), 128):
        ids, mask, special = _collate(seqs[s:s + 128], special_ids)
        corrupt, labels = mask_tokens(ids, mask, special, cfg, tok.mask_token_id, len(tok), gen)
        k = int((labels != -100).sum())
        if k:
            total += float(model.loss(corrupt, mask, labels)) * k
            n += k
    return total / max(n, 1)


def _optimiser(model: _Mlm, cfg: DaptConfig) -> torch.optim.AdamW:
    model.encoder.embeddings.word_embeddings.weight.requires_grad = False
    head = [p for n, p in model.head.named_parameters() if p.requires_grad and not n.startswith("embeddings.")]
    body = [p for p in model.encoder.parameters() if p.requires_grad]
    return torch.optim.AdamW([{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr}],
                             weight_decay=0.01)


def _lr_factor(step: int, total: int, warmup: float, start: int = 0) -> float:
    """Linear warm-up then linear decay to 0 at `total`, counted from `start`."""
    step, total = step - start, total - start
    warm = max(1, int(total * warmup))
    return min(1.0, (step + 1) / warm) * max(0.0, (total - step) / max(1, total - warm))


def _train(model: _Mlm, seqs: list[list[int]], cfg: DaptConfig, tok: Any) -> dict[str, Any]:
    """Steps until the time budget: `head_only_steps` for the fresh head, then 20 full steps time the machine and
    the encoder's linear schedule is planned to end at the budget."""
    from tqdm.auto import tqdm

    opt = _optimiser(model, cfg)
    base = [g["lr"] for g in opt.param_groups]
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    special_ids = set(tok.all_special_ids)
    budget, t0 = cfg.minutes * 60.0, time.monotonic()
    total, step, losses, t_full = 10**9, 0, [], t0
    bar = tqdm(desc="dapt", unit="step")
    model.train()
    while True:
        for batch in _batches(seqs, cfg.batch_size, rng):
            if step == cfg.head_only_steps + 20:  # time 20 full steps, plan the schedule to end at the budget
                per = (time.monotonic() - t_full) / 20
                total = max(step + 20, step + int((budget - (time.monotonic() - t0)) / per))
                bar.total = total
            if step == cfg.head_only_steps:
                t_full = time.monotonic()
            if step >= total or time.monotonic() - t0 > budget * 1.1:
                bar.close()
                return {"steps": step, "texts_seen": step * cfg.batch_size, "train_seconds": round(
                    time.monotonic() - t0, 1), "loss_first_100": float(np.mean(losses[:100])),
                    "loss_last_100": float(np.mean(losses[-100:]))}
            body, head = opt.param_groups
            if step < cfg.head_only_steps:
                body["lr"], head["lr"] = 0.0, base[1] * min(1.0, (step + 1) / 20)
            else:
                body["lr"], head["lr"] = (b * _lr_factor(step, total, cfg.warmup, cfg.head_only_steps) for b in base)
            ids, mask, special = _collate([seqs[i] for i in batch], special_ids)
            corrupt, labels = mask_tokens(ids, mask, special, cfg, tok.mask_token_id, len(tok), gen)
            loss = model.loss(corrupt, mask, labels, train_encoder=step >= cfg.head_only_steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            losses.append(loss.item())
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")


def save_encoder(encoder: nn.Module, out_dir: Path) -> Path:
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in encoder.state_dict().items() if k != FROZEN}
    path = out_dir / "encoder.safetensors"
    save_file(state, str(path))
    return path


def load_encoder_into(encoder: nn.Module, path: Path | str) -> None:
    """Load a DAPT encoder (every weight but the frozen word embeddings) into a freshly loaded base encoder."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape mismatch
        raise ValueError(f"{path}: not an encoder of this base ({str(exc).splitlines()[-1].strip()})") from exc
    if unexpected or [k for k in missing if k != FROZEN]:
        raise ValueError(f"{path}: not an encoder of this base (missing {missing[:3]}, unexpected {unexpected[:3]})")


def run_dapt(out_dir: Path, cfg: DaptConfig | None = None, data_dir: Path | None = None,
             base_dir: Path | None = None) -> dict[str, Any]:
    from monitor.score.text_model import load_base

    cfg = cfg or DaptConfig()
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    pool = unlabelled_pool(data_dir)
    if cfg.limit:
        pool = {k: v[: cfg.limit] for k, v in pool.items()}
    texts = [t for v in pool.values() for t in v]
    if not texts:
        raise ValueError("the unlabelled pool is empty: is ../shared/data (text/, streams/) there?")
    norm = normaliser(cfg.normalise)
    held = [t for t in texts if _heldout(t, cfg.heldout, cfg.seed)]
    train = [t for t in texts if not _heldout(t, cfg.heldout, cfg.seed)]
    encoder, tok = load_base(base_dir)
    enc = lambda xs: tok([norm(x) for x in xs], truncation=True, max_length=cfg.max_length)["input_ids"]  # noqa: E731
    train_seqs, held_seqs = enc(train), enc(held)[:2000]
    model = _Mlm(encoder)
    before = heldout_loss(model, held_seqs, cfg, tok)
    run = _train(model, train_seqs, cfg, tok)
    after = heldout_loss(model, held_seqs, cfg, tok)
    save_encoder(model.encoder, out_dir)
    summary = {
        "pool": {k: len(v) for k, v in pool.items()}, "train_texts": len(train), "heldout_texts": len(held_seqs),
        "heldout_mlm_loss_before": round(before, 4), "heldout_mlm_loss_after": round(after, 4),
        "heldout_perplexity_before": round(math.exp(before), 2), "heldout_perplexity_after": round(math.exp(after), 2),
        **run, "seconds": round(time.time() - t0, 1), "config": asdict(cfg),
    }
    (out_dir / "dapt_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
