"""`monitor eval posts --data FILE.jsonl`: posts (the posts.raw schema + `label`, optional `kind`) through the same
decode -> encode -> score code as the worker, without Kafka. Also a text-only ablation (the text model on the
post's own text only) and the metrics per `kind`. Lines the worker would dead-letter are counted, not scored.
A post the scorer leaves `unscored_modality` (no usable evidence) is predicted neutral."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from monitor import LABELS
from monitor.training.metrics import classification_report


def _report(y: list[int], pred: list[int]) -> dict[str, Any]:
    rep = classification_report(y, pred, LABELS)
    rep.pop("labels", None)
    return rep


def eval_posts(path: Path, scorer_name: str = "auto", batch: int = 16) -> dict[str, Any]:
    from tqdm import tqdm

    from monitor.config import Settings
    from monitor.ingest.decode import DecodeFailure, decode_post
    from monitor.score.factory import build_scorer

    settings = Settings.load(None, env={}, scorer=scorer_name)
    scorer = build_scorer(settings)
    text_scorer = getattr(scorer, "text", scorer)
    rows, posts, invalid = [], [], {}
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        obj = json.loads(line)
        label, kind = obj.pop("label"), obj.pop("kind", None)
        if label not in LABELS:
            raise ValueError(f"{path}:{line_no}: label {label!r} not in {LABELS}")
        res = decode_post(json.dumps(obj).encode(), settings.limits)
        if isinstance(res, DecodeFailure):
            invalid[res.reason] = invalid.get(res.reason, 0) + 1
            continue
        rows.append((LABELS.index(label), kind))
        posts.append(res)
    preds, text_preds, unscored, errors = [], [], 0, {}
    for i in tqdm(range(0, len(posts), batch), desc="eval posts", leave=False):
        chunk = posts[i:i + batch]
        for r in scorer.score(chunk):
            if r.error:
                errors[r.reason] = errors.get(r.reason, 0) + 1
            if r.probs is None:
                unscored += r.label == "unscored_modality"
                preds.append(LABELS.index("neutral"))
            else:
                preds.append(int(np.argmax(r.probs)))
        texts = [p.text or "" for p in chunk]
        has = [k for k, t in enumerate(texts) if t.strip()]
        tp = np.asarray(text_scorer.predict_proba([texts[k] for k in has])) if has else np.zeros((0, 3))
        by_k = {k: int(np.argmax(tp[j])) for j, k in enumerate(has)}
        text_preds += [by_k.get(k, LABELS.index("neutral")) for k in range(len(chunk))]
    y = [r[0] for r in rows]
    out = _report(y, preds)
    out["ablation_text_only"] = _report(y, text_preds)
    kinds = sorted({k for _, k in rows if k})
    if kinds:
        out["per_kind"] = {}
        for k in kinds:
            idx = [j for j, (_, kk) in enumerate(rows) if kk == k]
            out["per_kind"][k] = {"n": len(idx), **{m: v for m, v in _report([y[j] for j in idx],
                                                                               [preds[j] for j in idx]).items()
                                                    if m in ("accuracy", "macro_f1", "macro_recall")},
                                  "text_only_accuracy": _report([y[j] for j in idx],
                                                                [text_preds[j] for j in idx])["accuracy"]}
    out.update({"data": str(path), "model": scorer.version, "invalid": invalid, "unscored": unscored,
                "scorer_errors": errors})
    return out
