"""Image decoding with hard limits: JPEG / PNG / WebP / GIF (first frame) / BMP, EXIF orientation applied.

The header is read first and the pixel count checked before any pixel is decoded, so a decompression bomb
(a small file that claims a huge canvas) is rejected with `image_too_many_pixels` without allocating it.
Corrupt or truncated data -> `bad_image`; an unsupported container -> `unsupported_image`.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from monitor.media import MediaError

FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}
MAX_PIXELS = 40_000_000
MAX_SIDE = 20_000
WORK_SIDE = 1600  # larger images are downscaled for the encoders


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """bytes -> RGB uint8 array (h, w, 3), at most WORK_SIDE on its longer side. Raises MediaError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise MediaError("bad_image", "empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "?"
            if fmt not in FORMATS:
                raise MediaError("unsupported_image", f"format {fmt} (accepted: {', '.join(sorted(FORMATS))})")
            w, h = img.size
            if w <= 0 or h <= 0 or w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
                raise MediaError("image_too_many_pixels", f"{w}x{h} exceeds {max_pixels} pixels / {MAX_SIDE} a side")
            img.seek(0)  # GIF / animated WebP: first frame
            img.load()
            img = ImageOps.exif_transpose(img) or img
            if max(img.size) > WORK_SIDE:
                img.thumbnail((WORK_SIDE, WORK_SIDE))
            rgb = np.asarray(img.convert("RGB"))
    except MediaError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("bad_image" if isinstance(exc, UnidentifiedImageError) else "image_too_many_pixels",
                         str(exc)[:200]) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated / corrupt streams
        raise MediaError("bad_image", f"{type(exc).__name__}: {exc}"[:200]) from exc
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError("bad_image", f"unexpected pixel layout {rgb.shape}")
    return rgb
