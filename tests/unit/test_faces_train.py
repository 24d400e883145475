"""Face CNN training on a tiny synthetic FER-format set: a fresh run, a warm restart (`--init`), width checks."""

import numpy as np
import pytest

from monitor.media.face_model import FER_CLASSES, FaceExpressionModel


def _write_fer(d, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(FER_CLASSES)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    images[:, :8, :8] = (labels * 36)[:, None, None]  # a learnable corner patch per class
    np.savez(d / f"fer2013_{'train' if seed == 0 else 'dev'}.npz", images=images, labels=labels,
             classes=np.array(FER_CLASSES))


def test_fresh_run_then_warm_restart_records_its_lineage(tmp_path):
    from monitor.training.faces import train_faces

    _write_fer(tmp_path, 56, 0)
    _write_fer(tmp_path, 28, 1)
    first = train_faces(tmp_path / "a", epochs=1, batch=28, width=4, data_dir=tmp_path)
    assert first["version"] == "1" and first["init"] is None and first["epochs_run"] == 1
    second = train_faces(tmp_path / "b", epochs=2, batch=28, lr=1e-3, width=4, data_dir=tmp_path,
                         init=tmp_path / "a", pct_start=0.3)
    assert second["version"] == "2" and second["init"]["path"] == str(tmp_path / "a")
    assert second["init"]["dev_accuracy"] == first["dev_accuracy"] and len(second["history"]) == 2
    assert "Warm restart" in (tmp_path / "b" / "MODEL_CARD.md").read_text()
    third = train_faces(tmp_path / "d", epochs=1, batch=28, lr=1e-3, width=4, data_dir=tmp_path, init=tmp_path / "b")
    assert third["version"] == "3" and third["init"]["init"]["path"] == str(tmp_path / "a")  # a restart of a restart
    assert "`faces-cnn-3`" in (tmp_path / "d" / "MODEL_CARD.md").read_text()
    a, b = FaceExpressionModel(tmp_path / "a", device="cpu"), FaceExpressionModel(tmp_path / "b", device="cpu")
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert all(wa[k].shape == wb[k].shape for k in wa) and any(not (wa[k] == wb[k]).all() for k in wa)
    with pytest.raises(ValueError, match="width"):
        train_faces(tmp_path / "c", epochs=1, batch=28, width=8, data_dir=tmp_path, init=tmp_path / "a")
