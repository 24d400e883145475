"""Property tests of the decode/validate path: every input ends as a Post or a DLQ reason; nothing raises."""

import base64
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import Limits
from monitor.ingest.decode import REASONS, DecodeFailure, decode_post
from monitor.types import Post

L = Limits(max_message_bytes=64 * 1024, max_media_bytes=4096)
CORPUS = Path(__file__).resolve().parents[1] / "fuzz_corpus"


def check(raw):
    r = decode_post(raw, L)
    assert isinstance(r, Post | DecodeFailure)
    if isinstance(r, DecodeFailure):
        assert r.reason in REASONS and r.detail
    else:
        assert r.id and (r.text and r.text.strip() or r.media)
    return r


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(raw):
    check(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30)

media = st.fixed_dictionaries({"kind": st.sampled_from(["image", "audio", "video", 3]),
                               "mime": st.sampled_from(["image/png", "audio/wav", "text/html", None]),
                               "data": st.one_of(st.none(), st.text(max_size=40),
                                                 st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()))})
posts = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=20), st.integers(), st.none()),
     "created_at": st.one_of(st.integers(min_value=-10**16, max_value=10**16), st.text(max_size=30),
                             st.sampled_from(["2026-01-01T00:00:00Z", "2026-13-01", "0"]), st.floats()),
     "text": st.one_of(st.none(), st.text(max_size=200))},
    optional={"media": st.lists(media, max_size=10), "topics": st.lists(st.text(max_size=8), max_size=40),
              "meta": json_values, "lang": json_values})


@settings(max_examples=400, deadline=None)
@given(posts)
def test_structured_posts(obj):
    check(json.dumps(obj).encode())


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json(obj):
    check(json.dumps(obj).encode())


def test_committed_corpus_replays():
    files = sorted(f for f in CORPUS.glob("*") if f.is_file())
    assert len(files) >= 10
    reasons = {f.name: check(f.read_bytes()) for f in files}
    assert all(isinstance(r, DecodeFailure) for name, r in reasons.items() if name.startswith("bad-"))


# --- media decoders: arbitrary / corrupt bytes end as a decoded array or a MediaError with a reason code ---

MEDIA_REASONS = {"bad_image", "image_too_many_pixels", "unsupported_image", "bad_audio", "audio_too_long"}


def check_media(raw: bytes) -> None:
    import numpy as np

    from monitor.media import MediaError
    from monitor.media.audio import decode_audio
    from monitor.media.image import decode_image

    for fn in (decode_image, decode_audio):
        try:
            out = fn(raw)
            assert isinstance(out, np.ndarray) and out.size < 50_000_000
        except MediaError as e:
            assert e.reason in MEDIA_REASONS and e.detail


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_media_decoders_on_arbitrary_bytes(raw):
    check_media(raw)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x24\x00\x00\x00WAVEfmt ",
                        b"fLaC", b"OggS", b"ID3\x03", b"RIFF\x00\x00\x00\x00WEBPVP8 "]), st.binary(max_size=2048))
def test_media_decoders_on_corrupt_files_with_valid_magic(magic, tail):
    check_media(magic + tail)


def test_media_corpus_replays():
    files = sorted((CORPUS / "media").iterdir())
    assert len(files) >= 10
    for f in files:
        check_media(f.read_bytes())
