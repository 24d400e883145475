"""Text sentiment data sets from ../shared/data/text: loading, label mapping, seeded dev carving.

Splits (documented in the model card):
- social:     tweets_sentiment_train (train) / tweets_sentiment_dev (dev, TweetEval validation)
- social aux: tweets_emotion_train mapped joy|optimism -> positive, anger|sadness -> negative (train only)
- fin_tweets: fin_tweets_train has no dev file: a stratified, seeded 15% dev split is carved from it
- fin_news:   fin_phrasebank has no dev file: a stratified, seeded 20% dev split is carved from it
The carve is a pure function of the file contents and the seed (sorted by a hash of the text), so it is stable
across machines and Python versions, and no sentence is in both splits (duplicates are kept on one side).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from monitor import LABELS
from monitor.data import default_data_dir, read_tsv  # noqa: F401 - re-exported for training modules

LABEL_TO_ID = {name: i for i, name in enumerate(LABELS)}
EMOTION_TO_SENTIMENT = {"joy": "positive", "optimism": "positive", "anger": "negative", "sadness": "negative"}
CARVE_FRACTION = {"fin_tweets": 0.15, "fin_news": 0.20}


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    domain: str


def read_labelled_tsv(path: Path | str, domain: str = "eval") -> list[Example]:
    """Rows with `label` in negative/neutral/positive and `text`; other columns ignored.

    Raises ValueError naming the first row with an unknown label or missing column.
    """
    rows = read_tsv(path)
    out: list[Example] = []
    for i, row in enumerate(rows, start=2):
        if "label" not in row or "text" not in row:
            raise ValueError(f"{path}: needs columns 'label' and 'text' (got {sorted(row)})")
        label = (row["label"] or "").strip().lower()
        if label not in LABEL_TO_ID:
            raise ValueError(f"{path}:{i}: label {row['label']!r} is not one of {LABELS}")
        out.append(Example(text=row["text"] or "", label=LABEL_TO_ID[label], domain=domain))
    return out


def _hash_key(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x00{text}".encode()).hexdigest()


def carve(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Stratified, deterministic split -> (train, dev). Identical texts land on the same side."""
    train: list[Example] = []
    dev: list[Example] = []
    for label in range(len(LABELS)):
        group = [e for e in examples if e.label == label]
        texts = sorted({e.text for e in group}, key=lambda t: _hash_key(t, seed))
        n_dev = round(len(texts) * fraction)
        dev_texts = set(texts[:n_dev])
        for e in group:
            (dev if e.text in dev_texts else train).append(e)
    # a text labelled differently in two rows could sit on both sides: drop it from train
    dev_all = {e.text for e in dev}
    train = [e for e in train if e.text not in dev_all]
    return train, dev


def load_splits(data_dir: Path | str | None = None, seed: int = 13, use_emotion: bool = True
                ) -> tuple[dict[str, list[Example]], dict[str, list[Example]]]:
    """Return (train_by_domain, dev_by_name). Dev names: tweets_sentiment_dev, fin_tweets_dev, fin_phrasebank_dev."""
    d = Path(data_dir) if data_dir else default_data_dir()
    t = d / "text"
    social = read_labelled_tsv(t / "tweets_sentiment_train.tsv", "social")
    if use_emotion:
        for row in read_tsv(t / "tweets_emotion_train.tsv"):
            mapped = EMOTION_TO_SENTIMENT.get(row["label"])
            if mapped:
                social.append(Example(row["text"], LABEL_TO_ID[mapped], "social"))
    fin_tweets_all = read_labelled_tsv(t / "fin_tweets_train.tsv", "fin_tweets")
    fin_news_all = read_labelled_tsv(t / "fin_phrasebank.tsv", "fin_news")
    fin_tweets_train, fin_tweets_dev = carve(fin_tweets_all, CARVE_FRACTION["fin_tweets"], seed)
    fin_news_train, fin_news_dev = carve(fin_news_all, CARVE_FRACTION["fin_news"], seed)
    train = {"social": social, "fin_tweets": fin_tweets_train, "fin_news": fin_news_train}
    dev = {
        "tweets_sentiment_dev": read_labelled_tsv(t / "tweets_sentiment_dev.tsv", "social"),
        "fin_tweets_dev": fin_tweets_dev,
        "fin_phrasebank_dev": fin_news_dev,
    }
    return train, dev


def write_tsv(examples: list[Example], path: Path | str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["label", "text"])
        for e in examples:
            w.writerow([LABELS[e.label], e.text])
