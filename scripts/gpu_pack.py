"""Pack what one device run needs into the git-ignored .carry/ (the device tool carries at most 64 MiB).

  python scripts/gpu_pack.py text    -> .carry/minilm (fp16 base weights + tokenizer, ~45 MB) + .carry/data/text/*.tsv
  python scripts/gpu_pack.py faces   -> .carry/data/image/fer2013_{train,dev}: image arrays as .npy.xz (~57 MB)
                                        + labels; gpu_train.sh faces rebuilds the npz files on the device

MiniLM (45 MB) and FER2013 train (61 MB) do not fit in one carry, so text and faces are two runs of
scripts/gpu_train.sh on one warm machine. Then: device run with carry [".carry", ".whl"] (see README)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

LIMIT = 64 * 2**20
ROOT = Path(__file__).resolve().parents[1]


def pack_text(carry: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from monitor.score.text_model import base_model_path
    from monitor.training.text_data import default_data_dir

    src = base_model_path()
    dst = carry / "minilm"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in ("model.safetensors", "README.md", ".gitattributes"):
            shutil.copy(f, dst / f.name)
    state = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(src / "model.safetensors")).items()}
    save_file(state, str(dst / "model.safetensors"))
    (carry / "data" / "text").mkdir(parents=True)
    for f in (default_data_dir() / "text").glob("*.tsv"):
        if not f.name.startswith(("mvsa_", "mosi_")):
            shutil.copy(f, carry / "data" / "text" / f.name)


def pack_faces(carry: Path) -> None:
    """The npz files are already deflated (61 + 7.6 MB); their raw image arrays compress better with xz (~0.79)."""
    import lzma

    import numpy as np

    from monitor.training.text_data import default_data_dir

    out = carry / "data" / "image"
    out.mkdir(parents=True)
    for split in ("train", "dev"):
        d = np.load(default_data_dir() / "image" / f"fer2013_{split}.npz")
        with lzma.open(out / f"fer2013_{split}.images.npy.xz", "wb", preset=9 | lzma.PRESET_EXTREME) as fh:
            np.save(fh, d["images"])
        np.savez(out / f"fer2013_{split}.rest.npz", labels=d["labels"], classes=d["classes"])


def main(mode: str) -> int:
    carry = ROOT / ".carry"
    shutil.rmtree(carry, ignore_errors=True)
    {"text": pack_text, "faces": pack_faces}[mode](carry)
    whl = sum(f.stat().st_size for f in (ROOT / ".whl").glob("*.whl")) if (ROOT / ".whl").is_dir() else 0
    size = sum(f.stat().st_size for f in carry.rglob("*") if f.is_file()) + whl
    print(f".carry for {mode}: {size / 2**20:.1f} MiB (with .whl)")
    if size > LIMIT:
        print(f"too big for one device carry ({LIMIT / 2**20:.0f} MiB)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "text"))
