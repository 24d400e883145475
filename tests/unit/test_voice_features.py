"""Voice feature sets and the LOSO feature-set choice (pure code, synthetic audio)."""

import numpy as np
import pytest


def _clip(f0: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2  # syllable-like energy bumps
    return (env * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_feature_sets_share_one_analysis_and_keep_the_shipped_layout() -> None:
    from monitor.media.prosody import feature_sets, features

    d = feature_sets(_clip(140.0))
    assert {k: len(v) for k, v in d.items()} == {"a1": 186, "r1": 144, "a1r1": 330}
    assert np.array_equal(d["a1r1"], np.concatenate([d["a1"], d["r1"]]))
    assert np.array_equal(features(_clip(140.0)), d["a1"])  # the default is the shipped model's set
    assert all(np.isfinite(v).all() for v in d.values())
    with pytest.raises(ValueError, match="unknown voice feature set"):
        features(_clip(140.0), kind="b2")


def test_r1_drops_absolute_pitch_level_a1_keeps_it() -> None:
    """Same melody an octave apart (a lower and a higher voice): a1 differs in its mean log-f0, r1's pitch
    statistics (spread, range, slope, local variation) are the same."""
    from monitor.media.prosody import feature_sets

    lo, hi = feature_sets(_clip(120.0)), feature_sets(_clip(240.0))
    assert abs(float(hi["a1"][160] - lo["a1"][160]) - np.log(2)) < 0.05  # a1 index 160: mean log-f0
    # r1 layout: 19 + 20 + 20 MFCC-dynamics, 40 log-Mel std, 8 tilt groups, alpha, Hammarberg, then 4 pitch stats
    p = slice(19 + 20 + 20 + 40 + 8 + 2, 19 + 20 + 20 + 40 + 8 + 2 + 4)
    assert np.allclose(lo["r1"][p], hi["r1"][p], atol=0.02)


def test_feature_set_choice_needs_more_than_one_standard_error() -> None:
    from monitor.training.voice import choose_feature_set

    acc = {("a1", 0.01): 0.70, ("a1", 0.1): 0.68, ("a1r1", 0.01): 0.715, ("r1", 0.03): 0.69}
    assert choose_feature_set(acc, 300) == ("a1", 0.01)  # +0.015 < SE(0.70, 300) = 0.026
    acc[("r1", 0.03)] = 0.74
    assert choose_feature_set(acc, 300) == ("r1", 0.03)
    assert choose_feature_set({("r1", 0.1): 0.5, ("a1r1", 0.1): 0.6}, 300) == ("a1r1", 0.1)  # no default: best
