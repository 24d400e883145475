"""Media posts through the live worker: an image headline and a face are scored with per-modality evidence in
posts.scored; a corrupt image and a corrupt audio clip are dead-lettered with the decoder's reason."""

import base64
import json

import numpy as np
import pytest

from monitor.kafka_io import produce_raw, read_all
from monitor.types import DlqRecord, ScoredPost
from tests.media.conftest import SHARED, png_of_text

from .conftest import wait_until
from .helpers import BASE_MS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _post(pid: str, text: str | None, kind: str, mime: str, data: bytes) -> tuple[str, bytes]:
    post = {"id": pid, "created_at": BASE_MS, "topics": ["MEDIA"],
            "media": [{"kind": kind, "mime": mime, "data": base64.b64encode(data).decode()}]}
    if text:
        post["text"] = text
    return pid, json.dumps(post).encode()


def test_media_posts_scored_and_bad_media_dead_lettered(stream_settings, workers):
    import cv2

    s = stream_settings
    fer = np.load(SHARED / "image" / "fer2013_dev.npz")
    happy = fer["images"][fer["labels"] == list(fer["classes"]).index("happy")][0]
    ok, face_png = cv2.imencode(".png", cv2.resize(happy, (96, 96)))
    posts = [
        _post("m-headline", None, "image", "image/png", png_of_text("awful crash, terrible losses")),
        _post("m-face", "MEDIA today", "image", "image/png", bytes(face_png)),
        _post("m-badimg", "look", "image", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x07" * 50),
        _post("m-badwav", "listen", "audio", "audio/wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk"),
    ]
    w = workers(s)
    produce_raw(s.bootstrap_servers, s.topic_raw, posts)

    def done():
        sc = {r["value"]["id"]: r["value"] for r in read_all(s.bootstrap_servers, s.topic_scored)}
        dl = {r["value"]["post_id"]: r["value"] for r in read_all(s.bootstrap_servers, s.topic_dlq)}
        return (sc, dl) if len(sc) + len(dl) >= 4 else None

    res = wait_until(done, 180, 1.0)
    assert res, f"not all media posts accounted for (log: {w.log})"
    scored, dlq = res
    assert set(scored) == {"m-headline", "m-face"} and set(dlq) == {"m-badimg", "m-badwav"}
    assert dlq["m-badimg"]["reason"] == "bad_image" and dlq["m-badwav"]["reason"] == "bad_audio"
    for v in scored.values():
        ScoredPost.model_validate(v)
    for v in dlq.values():
        DlqRecord.model_validate(v)
    head = scored["m-headline"]
    assert head["label"] == "negative" and "image_text" in head["by_modality"]
    assert set(head["contributions"]) == set(head["by_modality"]) and head["contributions"]["image_text"] > 0
    assert "crash" in head["evidence"]["ocr"].lower()
    face = scored["m-face"]
    assert "face" in face["by_modality"] and face["evidence"]["faces"] == 1
    assert "monitor_scorer_seconds_count{modality=\"image\"}" in w.metrics()
