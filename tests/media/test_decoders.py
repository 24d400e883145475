"""Image and audio decoding: formats, limits, EXIF orientation, bombs and corrupt data -> reasons."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from monitor.media import MediaError
from monitor.media.audio import decode_audio
from monitor.media.image import decode_image

from .conftest import wav_bytes


def _img_bytes(fmt: str, size=(64, 40), **kw) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_image_formats(fmt):
    rgb = decode_image(_img_bytes(fmt))
    assert rgb.shape == (40, 64, 3) and rgb.dtype == np.uint8


def test_gif_first_frame():
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    rgb = decode_image(buf.getvalue())
    assert rgb[5, 5, 0] > 200 and rgb[5, 5, 2] < 50  # red, the first frame


def test_exif_orientation_applied():
    img = Image.new("RGB", (60, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image(buf.getvalue()).shape[:2] == (60, 20)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims width x height (a decompression bomb's header)."""
    raw = _img_bytes("PNG", (1, 1))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    start = raw.index(b"IHDR") - 4
    return raw[:start] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[start + 25:]


def test_decompression_bomb_rejected_before_decoding():
    with pytest.raises(MediaError) as e:
        decode_image(_png_claiming(30_000, 30_000))
    assert e.value.reason == "image_too_many_pixels"


@pytest.mark.parametrize("data,reason", [
    (b"", "bad_image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "bad_image"),
    (b"definitely not an image", "bad_image"),
])
def test_corrupt_images(data, reason):
    with pytest.raises(MediaError) as e:
        decode_image(data)
    assert e.value.reason == reason and e.value.detail


def test_truncated_jpeg_and_unsupported_format():
    jpeg = _img_bytes("JPEG", (300, 300))
    with pytest.raises(MediaError) as e:
        decode_image(jpeg[: len(jpeg) // 3])
    assert e.value.reason == "bad_image"
    with pytest.raises(MediaError) as e:
        decode_image(_img_bytes("TIFF"))
    assert e.value.reason == "unsupported_image"


def _tone(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS")])
def test_audio_formats_resampled_to_16k_mono(fmt, subtype):
    y = decode_audio(wav_bytes(_tone(44_100, 1.0, channels=2), 44_100, fmt, subtype))
    assert y.ndim == 1 and y.dtype == np.float32 and abs(len(y) - 16_000) < 200


def test_audio_too_long_checked_from_header():
    with pytest.raises(MediaError) as e:
        decode_audio(wav_bytes(np.zeros(8_000 * 20, np.float32), 8_000), max_seconds=10)
    assert e.value.reason == "audio_too_long"


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVEfmt garbage", b"\x00" * 1000])
def test_corrupt_audio(data):
    with pytest.raises(MediaError) as e:
        decode_audio(data)
    assert e.value.reason == "bad_audio"


def test_truncated_wav_decodes_what_is_there_or_fails_cleanly():
    data = wav_bytes(_tone(16_000, 1.0), 16_000)
    try:
        y = decode_audio(data[: len(data) // 2])
        assert len(y) <= 16_000
    except MediaError as e:
        assert e.reason == "bad_audio"
