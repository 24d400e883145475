"""Cross-fitted voice evidence for fusion training: clip recognition, token replacement, no speaker leakage."""

import base64
import csv

import numpy as np
import pytest

from monitor import LABELS
from monitor.training.compose import DEV_SPEAKERS, EMODB_TO_LABEL
from monitor.training.cross_fit import apply_voice_oof, clip_index, post_clip, voice_oof_tokens
from monitor.training.fusion import _token_accuracy


def _audio_post(data: bytes) -> dict:
    return {"id": "p", "media": [{"kind": "image", "data": base64.b64encode(b"\x89PNG").decode()},
                                 {"kind": "audio", "data": base64.b64encode(data).decode()}]}


def test_post_clip_names_the_emodb_file_a_post_carries(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF-a")
    (tmp_path / "b.wav").write_bytes(b"RIFF-b")
    (tmp_path / "labels.tsv").write_text("file\temotion\tspeaker\na.wav\tanger\t09\nb.wav\tneutral\t10\n")
    index = clip_index(tmp_path)
    assert post_clip(_audio_post(b"RIFF-b"), index) == "b.wav"
    assert post_clip(_audio_post(b"RIFF-other"), index) is None  # e.g. espeak speech
    assert post_clip({"id": "t", "text": "no media"}, index) is None


def test_apply_voice_oof_replaces_only_matching_voice_tokens_and_keeps_quality():
    rows = [
        {"kind": "voice", "label": "negative", "voice_file": "a.wav",
         "by": {"voice": [0.9, 0.05, 0.05], "text": [0.1, 0.8, 0.1]},
         "aux": {"voice": {"quality": 0.2, "aligned": [0.3, 0.1, 0.0]}}},
        {"kind": "voice", "label": "neutral", "voice_file": "zz.wav", "by": {"voice": [0.1, 0.8, 0.1]},
         "aux": {"voice": {"quality": 0.3, "aligned": [0.0, 0.2, 0.0]}}},
        {"kind": "speech", "label": "positive", "voice_file": None, "by": {"voice": [0.2, 0.2, 0.6]},
         "aux": {"voice": {"quality": 0.5}}},
    ]
    n = apply_voice_oof(rows, {"a.wav": ([0.2, 0.7, 0.1], [0.0, 0.4, 0.1])})
    assert n == 1
    assert rows[0]["by"]["voice"] == [0.2, 0.7, 0.1] and rows[0]["by"]["text"] == [0.1, 0.8, 0.1]
    assert rows[0]["aux"]["voice"] == {"quality": 0.2, "aligned": [0.0, 0.4, 0.1]}
    assert rows[1]["by"]["voice"] == [0.1, 0.8, 0.1] and rows[2]["by"]["voice"] == [0.2, 0.2, 0.6]
    assert _token_accuracy(rows) == 0.5  # voice-kind rows: the replaced one is now wrong, the other right


def _emodb():
    from monitor.training.text_data import default_data_dir

    return default_data_dir() / "audio" / "emodb"


@pytest.mark.skipif(not (_emodb() / "labels.tsv").exists(), reason="needs ../shared/data/audio/emodb")
def test_cross_fitting_refuses_dev_speaker_clips():
    emo = _emodb()
    with open(emo / "labels.tsv", newline="") as f:
        dev_file = next(r["file"] for r in csv.DictReader(f, delimiter="\t") if r["speaker"] in DEV_SPEAKERS)
    with pytest.raises(ValueError, match="not train-speaker"):
        voice_oof_tokens({dev_file})


@pytest.mark.slow
def test_cross_fitted_voice_tokens_are_out_of_sample():
    """In-sample, the shipped voice model is right on (nearly) every train clip; left-one-speaker-out it must be
    clearly less accurate (a leak of the held-out speaker into its fold would bring it back near 1.0)."""
    from monitor.media.audio import decode_audio
    from monitor.media.prosody import VoiceEmotionModel, valence
    from monitor.training.text_data import default_data_dir

    emo = default_data_dir() / "audio" / "emodb"
    with open(emo / "labels.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["speaker"] not in DEV_SPEAKERS and r["emotion"] in EMODB_TO_LABEL]
    y = np.array([LABELS.index(EMODB_TO_LABEL[r["emotion"]]) for r in rows])
    voice = VoiceEmotionModel()
    worker = {r["file"]: valence(voice.predict([decode_audio((emo / r["file"]).read_bytes())])[0], voice.classes)[0]
              for r in rows}  # the token as the worker builds it (monitor/score/multimodal.py)
    in_sample = np.array([np.argmax(worker[r["file"]]) for r in rows])
    tokens = voice_oof_tokens({r["file"] for r in rows})
    oof = np.array([np.argmax(tokens[r["file"]][0]) for r in rows])
    acc_in, acc_oof = float((in_sample == y).mean()), float((oof == y).mean())
    assert acc_in > 0.95
    assert 0.5 < acc_oof < acc_in - 0.08, (acc_in, acc_oof)
    # one fold on every training speaker must rebuild the worker's token: same features, scaler, L2, temperature
    some = {r["file"] for r in rows[::25]}
    refit = voice_oof_tokens(some, leave_speaker_out=False)
    assert set(refit) == some
    gap = max(float(np.abs(np.subtract(refit[f][0], worker[f])).max()) for f in some)
    assert gap < 1e-3, gap  # measured: 0.0 (tokens are rounded to 4 digits)
