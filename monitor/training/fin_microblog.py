"""A finance-microblog dev set from the real cashtag stream, labelled by written rules and checked by hand (#33.4).

Investor chatter says bullish and bearish in its own words ("puts", "bagholders", "to the moon", 🚀, 📉) that the
general sentiment sets barely hold. This module writes the rules down, samples candidate posts from
`streams/stocknet_dev/posts.jsonl.gz` with them, and scores models on the checked set.

The rules (`BULL`, `BEAR`): a post is a candidate for **positive** (bullish) when it matches at least one bullish cue
and no bearish cue, **negative** (bearish) the other way round; a post matching both or neither is not a candidate
(this set has no neutral class: it measures how often clearly directional chatter is read the right way). Left out
before sampling: posts with four or more cashtags (ticker lists and spam), shorter than 25 characters, and
duplicates once "RT @user:" prefixes, URLs and case are removed. Each cue is either **jargon** (the trader words the
issue names) or a **plain** sentiment word a news sentence would use (`plunge`, `soar`), so the report can say which
kind the model misses.

Hand check: every sampled candidate was read; a post is dropped (the file `fin_microblog_rejected.tsv` keeps its id
and the reason) when the cue does not carry the post's direction: a question, sarcasm, a quote of someone else's
view, a cue about another ticker than the post's stance, "earnings call" and the like. The checked set is
`monitor/eval_data/fin_microblog_dev.tsv` (label, text, id, cues). Its texts are never used for training; they are
excluded from the DAPT pool (`dapt.unlabelled_pool`).
"""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

EVAL_DATA = Path(__file__).resolve().parents[1] / "eval_data"
DEV_FILE = EVAL_DATA / "fin_microblog_dev.tsv"

# (name, kind, pattern); case-insensitive, on the raw text
BULL: list[tuple[str, str, str]] = [
    ("moon", "jargon", r"to the moon|\bmoon(ing)?\b|🚀"),
    ("chart_up", "jargon", r"📈"),
    ("bullish", "jargon", r"\bbull(ish)?\b"),
    ("calls", "jargon", r"(?<!earnings )(?<!conference )\bcalls\b(?! (for|on (the )?(fed|congress)))"),
    ("long", "jargon", r"\bgo(ing)? long\b|\blong (\$|on\b|here\b|term bull)|\bbought (more )?(\$|shares)"),
    ("buy_dip", "jargon", r"\bbuy(ing)? (the|this) dip\b"),
    ("breakout", "jargon", r"\bbreak(ing|s)? ?out\b"),
    ("ath", "jargon", r"\bATH\b|all[- ]time highs?\b|\bnew highs?\b"),
    ("squeeze", "jargon", r"\bshort squeeze\b"),
    ("upgrade", "plain", r"\bupgrade[sd]?\b"),
    ("beat", "plain", r"\bbeats? (estimates|expectations|the street)|\bcrush(es|ed)? (estimates|expectations)"),
    ("soar", "plain", r"\bsoar(s|ed|ing)?\b|\bsurg(e|es|ed|ing)\b|\bskyrocket"),
    ("rally", "plain", r"\brall(y|ies|ied|ying)\b"),
]
BEAR: list[tuple[str, str, str]] = [
    ("bearish", "jargon", r"\bbear(ish)?\b"),
    ("puts", "jargon", r"\bputs\b"),
    ("short", "jargon", r"\bshort(ing|ed)? (\$|it\b|this\b|more\b)|\bgo(ing)? short\b|\bshorts? (are )?(win|paid)"),
    ("bagholder", "jargon", r"\bbag ?holders?\b|\bbag ?holding\b"),
    ("chart_down", "jargon", r"📉"),
    ("dump", "jargon", r"\bdump(s|ed|ing)?\b"),
    ("sell_off", "jargon", r"\bsell[- ]?off\b|\bsold (all|everything|my)\b"),
    ("crash", "plain", r"\bcrash(es|ed|ing)?\b"),
    ("tank", "plain", r"\btank(s|ed|ing)\b"),
    ("plunge", "plain", r"\bplung(e|es|ed|ing)\b|\bplummet|\btumbl(e|es|ed|ing)\b|\bslump"),
    ("downgrade", "plain", r"\bdowngrade[sd]?\b"),
    ("miss", "plain", r"\bmiss(es|ed)? (estimates|expectations)"),
]
_BULL = [(n, k, re.compile(p, re.I)) for n, k, p in BULL]
_BEAR = [(n, k, re.compile(p, re.I)) for n, k, p in BEAR]
_CASHTAG = re.compile(r"\$[A-Za-z]{1,6}\b")
_RT = re.compile(r"^RT @\w+:?\s*")
_URL = re.compile(r"https?://\S+")


def cues(text: str) -> tuple[list[str], list[str]]:
    """Names of the bullish and bearish cues the text matches."""
    return [n for n, _, p in _BULL if p.search(text)], [n for n, _, p in _BEAR if p.search(text)]


def rule_label(text: str) -> str | None:
    """'positive' / 'negative' by the rules above, None when no side or both sides match."""
    bull, bear = cues(text)
    if bull and not bear:
        return "positive"
    if bear and not bull:
        return "negative"
    return None


def cue_kind(names: list[str]) -> str:
    kinds = {k for n, k, _ in BULL + BEAR if n in names}
    return "jargon" if "jargon" in kinds else "plain"


def _key(text: str) -> str:
    """The duplicate key of the sampling (kept as it was when the set was drawn: `sample_for_review` replays it)."""
    return _URL.sub("", _RT.sub("", text)).strip().lower()


def match_key(text: str) -> str:
    """A post compared without its retweet prefix, URLs, case and spacing (line breaks became spaces in the TSV):
    what keeps every copy of a dev post out of the training pools."""
    return " ".join(_URL.sub("", _RT.sub("", text)).lower().split())


def candidates(stream: Path, per_class: int, seed: int = 1) -> list[dict[str, Any]]:
    """Up to `per_class` rule-labelled posts per class, sampled at random from the stream after the filters."""
    seen: set[str] = set()
    pools: dict[str, list[dict[str, Any]]] = {"negative": [], "positive": []}
    with gzip.open(stream, "rt", encoding="utf-8") as f:
        for line in f:
            post = json.loads(line)
            text = (post.get("text") or "").replace("\n", " ").strip()
            if len(text) < 25 or len(_CASHTAG.findall(text)) >= 4:
                continue
            key = _key(text)
            if key in seen:
                continue
            seen.add(key)
            label = rule_label(text)
            if label:
                bull, bear = cues(text)
                pools[label].append({"label": label, "text": text, "id": str(post["id"]),
                                     "cues": ",".join(bull or bear)})
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for label in ("negative", "positive"):
        out.extend(rng.sample(pools[label], min(per_class, len(pools[label]))))
    return out


def sample_for_review(stream: Path) -> list[dict[str, Any]]:
    """The 380 candidates that were read by hand: 150 per class (seed 1), then 40 more per class (seed 2) from the
    rest of each class's candidates, as the first 300 left fewer than 100 per class after the check."""
    first = candidates(stream, 150, seed=1)
    every = candidates(stream, 10**9, seed=1)
    taken = {r["id"] for r in first}
    rng = random.Random(2)
    extra: list[dict[str, Any]] = []
    for label in ("negative", "positive"):
        extra.extend(rng.sample([r for r in every if r["label"] == label and r["id"] not in taken], 40))
    return first + extra


def read_set(path: Path = DEV_FILE) -> list[dict[str, str]]:
    from monitor.data import read_tsv

    return read_tsv(path)


def evaluate(rows: list[dict[str, str]], probs: Any) -> dict[str, Any]:
    """Accuracy on the two directional classes and where the misses go, overall and by cue kind."""
    from monitor import LABELS

    pred = [LABELS[int(i)] for i in probs.argmax(1)]

    def block(idx: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(idx)}
        if not idx:
            return out
        out["accuracy"] = round(sum(pred[i] == rows[i]["label"] for i in idx) / len(idx), 3)
        for gold in ("negative", "positive"):
            g = [i for i in idx if rows[i]["label"] == gold]
            if g:
                out[gold] = {"n": len(g), **{f"called_{lab}": round(sum(pred[i] == lab for i in g) / len(g), 3)
                                             for lab in LABELS}}
        return out

    everything = list(range(len(rows)))
    return {"all": block(everything),
            "jargon_cues": block([i for i in everything if cue_kind(rows[i]["cues"].split(",")) == "jargon"]),
            "plain_cues": block([i for i in everything if cue_kind(rows[i]["cues"].split(",")) == "plain"])}
