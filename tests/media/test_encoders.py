"""Each encoder on small real inputs: a rendered text image (OCR), FER faces (CNN), Emo-DB clips (prosody),
espeak-ng speech (VAD + ASR), and the evaluation commands."""

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.training.media_eval import levenshtein

from .conftest import SHARED, espeak, png_of_text, wav_bytes

pytestmark = pytest.mark.slow


def test_ocr_reads_a_rendered_headline():
    from monitor.media.image import decode_image
    from monitor.media.vision import ocr_text

    ref = "EPS misses guidance cut"
    text, conf = ocr_text(decode_image(png_of_text(ref)))
    assert levenshtein(ref.lower(), text.lower()) / len(ref) < 0.15, text
    assert conf > 0.5


def test_face_cnn_on_fer_dev_faces(fer_dev):
    from monitor.media.vision import detect_faces, face_model

    images, labels, classes = fer_dev
    m = face_model()
    assert list(m.classes) == classes
    idx = np.random.default_rng(0).choice(len(images), 300, replace=False)
    probs, emb = m.predict(images[idx])
    assert probs.shape == (300, 7) and emb.shape == (300, 128)
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (probs.argmax(1) == labels[idx]).mean() > 0.5  # chance is 0.25 (majority class)
    rgb = np.repeat(images[idx[0]][:, :, None], 3, axis=2)
    assert len(detect_faces(rgb)) == 1  # a small face crop is taken as one face


def test_visual_embedding_is_compact_and_deterministic():
    from monitor.media.image import decode_image
    from monitor.media.vision import STATS_DIM, encode_images

    rgb = decode_image(png_of_text("chart down 20%"))
    a, b = encode_images([rgb], do_ocr=False)[0], encode_images([rgb], do_ocr=False)[0]
    assert len(a.visual) == STATS_DIM + 128 and a.visual == b.visual


def test_voice_emotion_on_emodb_clips():
    import csv

    from monitor.media.audio import decode_audio
    from monitor.media.prosody import VoiceEmotionModel, valence

    d = SHARED / "audio" / "emodb"
    rows = list(csv.DictReader(open(d / "labels.tsv"), delimiter="\t"))[:40]
    m = VoiceEmotionModel()
    probs = m.predict([decode_audio((d / r["file"]).read_bytes()) for r in rows])
    assert probs.shape == (40, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    v, arousal = valence(probs[0], m.classes)
    assert len(v) == 3 and abs(sum(v) - 1) < 1e-3 and 0 <= arousal <= 1
    # the decode + feature path the worker uses must reproduce what the model was trained on: these clips were in
    # its training data, so a feature-extraction mismatch (sample rate, normalisation) shows as a collapse here
    truth = [m.classes.index(r["emotion"]) for r in rows]
    assert (probs.argmax(1) == truth).mean() > 0.6


def test_vad_and_asr_on_espeak_speech():
    from monitor.media.audio import decode_audio
    from monitor.media.speech import speech_segments, transcribe

    ref = "the company cut its profit forecast for next year"
    y = decode_audio(espeak(ref))
    assert speech_segments(y)
    hyp = transcribe(y).lower()
    words = [w.strip(".,") for w in hyp.split()]
    assert levenshtein(ref.split(), words) / len(ref.split()) < 0.4, hyp
    assert speech_segments(np.zeros(16_000, np.float32)) == []


def _post(pid, text=None, media=()):
    from monitor.types import Post

    return Post(id=pid, created_at=datetime.now(UTC), text=text,
                media=[{"kind": k, "mime": mime, "data": base64.b64encode(data).decode()} for k, mime, data in media])


def test_multimodal_scorer_reads_meaning_from_pixels_and_speech():
    from monitor.config import Settings
    from monitor.score.factory import build_scorer

    scorer = build_scorer(Settings.load(None, env={}, scorer="vader"))
    posts = [
        _post("img", None, [("image", "image/png", png_of_text("terrible losses, awful crash"))]),
        _post("aud", "update", [("audio", "audio/wav", espeak("this is a terrible disaster and I hate it"))]),
        _post("bad", "see pic", [("image", "image/png", b"\x89PNG\r\n\x1a\nbroken")]),
        _post("txt", "great wonderful gains, love it"),
        _post("silent", None, [("audio", "audio/wav", wav_bytes(np.zeros(16_000, np.float32), 16_000))]),
    ]
    res = {p.id: r for p, r in zip(posts, scorer.score(posts), strict=True)}
    assert res["img"].label == "negative" and "image_text" in res["img"].by_modality
    assert "crash" in res["img"].evidence["ocr"].lower()
    assert res["aud"].label == "negative" and "speech_text" in res["aud"].by_modality
    assert "voice" in res["aud"].by_modality and res["aud"].evidence["speech_s"] > 0.5
    for k in ("img", "aud"):  # fusion contributions: one weight per present modality, summing to 1
        assert set(res[k].contributions) == set(res[k].by_modality)
        assert abs(sum(res[k].contributions.values()) - 1) < 1e-3
    assert res["bad"].error and res["bad"].reason == "bad_image"
    assert res["txt"].label == "positive" and res["txt"].modalities == ["text"]
    assert res["silent"].label == "unscored_modality" and res["silent"].error is None


def test_eval_commands_print_the_required_keys(tmp_path, fer_dev):
    images, labels, classes = fer_dev
    np.savez(tmp_path / "small.npz", images=images[:64], labels=labels[:64], classes=np.array(classes))
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "faces", "--data", str(tmp_path / "small.npz"),
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert {"n", "accuracy", "macro_f1", "per_class", "confusion"} <= set(rep) and rep["n"] == 64
    d = SHARED / "audio" / "emodb"
    lines = open(d / "labels.tsv").read().splitlines()
    (tmp_path / "labels.tsv").write_text("\n".join(lines[:13]) + "\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "voice", "--data", str(d), "--labels",
                          str(tmp_path / "labels.tsv"), "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert {"n", "accuracy", "macro_f1", "per_class", "confusion"} <= set(rep) and rep["n"] == 12


def test_eval_faces_and_voice_compare_side_by_side(tmp_path, fer_dev):
    """`--compare previous|DIR` evaluates another artefact on the same data and prints both."""
    from monitor.media.face_model import DEFAULT_FACE_ARTEFACT
    from monitor.media.prosody import DEFAULT_VOICE_ARTEFACT

    images, labels, classes = fer_dev
    np.savez(tmp_path / "small.npz", images=images[:200], labels=labels[:200], classes=np.array(classes))
    prev = DEFAULT_FACE_ARTEFACT.with_name(DEFAULT_FACE_ARTEFACT.name + "-previous")
    if not (prev / "meta.json").exists():
        pytest.skip("no previous face artefact shipped")
    cmd = [sys.executable, "-m", "monitor.cli", "eval", "faces", "--data", str(tmp_path / "small.npz"),
           "--compare", "previous"]
    rep = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, check=True, timeout=300).stdout)
    assert len(rep["compared"]) == 1 and rep["compared"][0]["model"].startswith("faces-cnn-previous")
    assert rep["compared"][0]["accuracy"] != rep["accuracy"]  # a different model, on 200 faces
    text = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout
    assert "side by side (n=200)" in text and "faces-cnn-previous" in text
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no model to compare" in bad.stderr
    d = SHARED / "audio" / "emodb"
    lines = open(d / "labels.tsv").read().splitlines()
    (tmp_path / "labels.tsv").write_text("\n".join(lines[:13]) + "\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "eval", "voice", "--data", str(d), "--labels",
                          str(tmp_path / "labels.tsv"), "--json", "--compare", str(DEFAULT_VOICE_ARTEFACT)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["compared"][0]["accuracy"] == rep["accuracy"]  # the same artefact twice: the same figures
