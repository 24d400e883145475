"""The scorer factory: which text model (fine-tuned MiniLM or VADER), wrapped with the media encoders when enabled,
and the reliability suite's fault injection. Separate from the interface (score/base.py) so the interface and each
scorer module import nothing above them."""

from __future__ import annotations

import logging

import numpy as np

from monitor.config import Settings
from monitor.score.base import Scorer, TextScorer

log = logging.getLogger(__name__)


def build_scorer(settings: Settings) -> Scorer:
    """`auto`: the fine-tuned text model when its artefact is present, else the VADER baseline (logged)."""
    scorer = _build_scorer(settings)
    marker = settings.fault_scorer_marker
    if marker:
        log.warning("fault injection on: the scorer raises on texts containing %r", marker)
        target = getattr(scorer, "text", scorer)
        inner = target.predict_proba  # type: ignore[attr-defined]

        def faulty(texts: list[str]) -> np.ndarray:
            if any(marker in t for t in texts):
                raise RuntimeError(f"injected scorer fault ({marker})")
            return inner(texts)

        target.predict_proba = faulty  # type: ignore[attr-defined]
    return scorer


def _build_scorer(settings: Settings) -> Scorer:
    from monitor.score.text_model import DEFAULT_ARTEFACT, TextSentimentModel

    art = settings.text_model_dir or DEFAULT_ARTEFACT
    if settings.scorer in ("auto", "text") and TextSentimentModel.available(art):
        model = TextSentimentModel(art, device=settings.device, batch_size=settings.batch_size,
                                   backend=settings.text_backend)
        log.info("text model backend: %s", model.backend)
        return _with_media(TextScorer("minilm", model.version, lambda t: model.predict_proba(t).numpy()), settings)
    if settings.scorer == "text":
        raise FileNotFoundError(f"no trained text model at {art}: run `monitor train text`")
    if settings.scorer == "auto":
        log.warning("no trained text model at %s: scoring with the VADER baseline", art)
    from monitor.score.vader import VaderModel

    v = VaderModel()
    return _with_media(TextScorer("vader", v.version, v.predict_proba), settings)


def _with_media(text: TextScorer, settings: Settings) -> Scorer:
    """Media posts go through the image / audio encoders when they are installed and enabled."""
    if not settings.media_encoders:
        return text
    try:
        from monitor.score.multimodal import MultimodalScorer

        return MultimodalScorer(text, settings)
    except ImportError as exc:  # pragma: no cover - a text-only install
        log.warning("media encoders unavailable (%s): media-only posts stay unscored", exc)
        return text
