"""Synthetic media made here, for evaluations, training sets and benchmarks: a headline rendered into an image
(varied fonts, colours, rotation, blur, JPEG, noise), speech synthesised by espeak-ng, a photo-like image without
text. No data files: pure synthesis."""

from __future__ import annotations

import io
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed-Oblique.ttf", "DejaVuSerif-Bold.ttf")


def render_text_image(text: str, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    """A headline-like image of `text` (wrapped to two lines when long), JPEG bytes, and its rendering params."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font_name = rng.choice(FONTS)
    size = rng.choice([18, 22, 28, 36, 44])
    font = ImageFont.truetype(str(FONT_DIR / font_name), size)
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) > 32 and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    bg = tuple(rng.randint(180, 255) for _ in range(3)) if rng.random() < 0.7 else tuple(rng.randint(0, 60)
                                                                                           for _ in range(3))
    fg = tuple(rng.randint(0, 70) for _ in range(3)) if sum(bg) > 380 else tuple(rng.randint(200, 255)
                                                                                  for _ in range(3))
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    img = Image.new("RGB", (width, (len(lines) + 1) * int(size * 1.4)), bg)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((size, int(size * 0.6) + i * int(size * 1.3)), line, fill=fg, font=font)
    angle = rng.uniform(-4, 4)
    img = img.rotate(angle, expand=True, fillcolor=bg)
    blur = rng.random() < 0.3
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(0.8))
    arr = np.asarray(img).astype(np.float32)
    noise = rng.choice([0.0, 4.0, 10.0])
    if noise:
        arr += np.random.default_rng(rng.randint(0, 10**6)).normal(0, noise, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    quality = rng.choice([40, 70, 92])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), {"font": font_name, "size": size, "angle": round(angle, 1), "blur": blur, "noise": noise,
                            "jpeg_quality": quality}


def espeak_wav(text: str, voice: str = "en-us", speed: int = 160) -> bytes:
    r = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True,
                       timeout=60, check=True)
    return r.stdout


def photo_without_text(seed: int, h: int = 480, w: int = 640) -> np.ndarray:
    """A smooth noisy 640x480 RGB image with no text (stands in for a photo)."""
    import cv2

    img = np.random.default_rng(seed).normal(120, 40, (h, w, 3)).clip(0, 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (31, 31), 0)
