import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def png_of_text(text: str, size: int = 36) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", size)
    img = Image.new("RGB", (int(font.getlength(text)) + 2 * size, 2 * size), "white")
    ImageDraw.Draw(img).text((size, size // 2), text, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def espeak(text: str) -> bytes:
    return subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True,
                          timeout=60).stdout


def wav_bytes(y: np.ndarray, sr: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture(scope="session")
def fer_dev():
    path = SHARED / "image" / "fer2013_dev.npz"
    if not path.exists():
        pytest.fail(f"{path} missing (../shared/data is part of the workplace)")
    d = np.load(path)
    return d["images"], d["labels"], [str(c) for c in d["classes"]]
