"""The CPU int8 backend of the text model: int8 weights per output channel, int8 activations per token (#33.5).

Why per token. torch's dynamic quantisation (`quantize_dynamic`) picks one activation scale per call, over every
token of every text in the batch, padding included: a text's probabilities then depend on what it is batched with
(measured: up to 0.22 on real cashtag tweets, one text alone vs in 20 random batches). Here each token row gets
its own scale (max |x| / 127), the int8 x int8 product accumulates exactly in int32 (`torch._int_mm`), and the
rescale is element-wise: a row's output depends on that row alone, whatever else is in the batch. Together with
length buckets in `TextSentimentModel.logits` (the attention kernel then sees the same padded length alone and in
a batch) one text gets the same probabilities in any batch (`tests/unit/test_text_model.py`, to 1e-6).

Per-token scales also keep the feed-forward outliers that one scale per batch lost, so every Linear layer of the
encoder is int8 (the dynamic backend had to keep three of them fp32). Embeddings, LayerNorms, attention softmax
and the 3-class head stay fp32. Built from the fp32 artefact at load, in well under a second.
"""

from __future__ import annotations

import torch
from torch import nn


class Int8RowLinear(nn.Module):
    """y = (q(x) @ Wq^T) * s_x * s_w + b with q(x) int8 per row (token) and Wq int8 per output channel."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        w_scale = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        self.register_buffer("weight_t", torch.round(w / w_scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("w_scale", w_scale)
        bias = linear.bias.detach().float().clone() if linear.bias is not None else torch.zeros(w.shape[0])
        self.register_buffer("bias", bias)
        self.in_features = w.shape[1]
        self.out_features = w.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
        q = torch.round(rows / scale).to(torch.int8)
        acc = torch._int_mm(q, self.weight_t)  # exact int32 accumulation: no dependence on the other rows
        y = torch.addcmul(self.bias, acc * scale, self.w_scale)
        return y.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per token x per channel"


def quantize_rows(net: nn.Module, prefix: str = "encoder") -> list[str]:
    """Replace every nn.Linear under `prefix` by an Int8RowLinear, in place; the names replaced."""
    replaced: list[str] = []
    for parent_name, parent in list(net.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, nn.Linear) and name.startswith(prefix):
                setattr(parent, child_name, Int8RowLinear(child))
                replaced.append(name)
    return replaced
