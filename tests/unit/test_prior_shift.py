"""#33.3: EM prior estimation (Saerens et al. 2002) recovers a shifted prior from calibrated posteriors alone."""

import numpy as np

from monitor.training.prior_shift import adjust, em_prior, evaluate, resample


def _calibrated(n: int, prior: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from `prior`, and the exact posteriors of a 3-class Gaussian model under the uniform prior."""
    y = rng.choice(3, size=n, p=prior)
    means = np.array([-1.5, 0.0, 1.5])
    x = rng.normal(means[y], 1.0)
    lik = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2)
    return y, lik / lik.sum(1, keepdims=True)  # posteriors under a uniform source prior


def test_em_recovers_the_target_prior_and_adjusting_helps_accuracy():
    rng = np.random.default_rng(0)
    uniform = np.full(3, 1 / 3)
    target = np.array([0.6, 0.3, 0.1])
    y, p = _calibrated(20_000, target, rng)
    est = em_prior(p, uniform)
    assert np.abs(est - target).max() < 0.02, est
    acc_as_is = (p.argmax(1) == y).mean()
    acc_adj = (adjust(p, uniform, est).argmax(1) == y).mean()
    assert acc_adj > acc_as_is + 0.02, (acc_as_is, acc_adj)


def test_no_shift_is_a_fixed_point_and_resampling_hits_the_target():
    rng = np.random.default_rng(1)
    uniform = np.full(3, 1 / 3)
    y, p = _calibrated(30_000, uniform, rng)
    assert np.abs(em_prior(p, uniform) - uniform).max() < 0.02
    idx = resample(y, np.array([0.2, 0.2, 0.6]), rng, n=1000)
    assert len(idx) == 1000 and np.bincount(y[idx], minlength=3).tolist() == [200, 200, 600]


def test_evaluate_reports_every_set_and_target():
    rng = np.random.default_rng(2)
    sets = {"a": _calibrated(3000, np.array([0.2, 0.5, 0.3]), rng), "b": _calibrated(3000, np.array([0.5, 0.3, 0.2]), rng)}
    rep = evaluate(sets, {"a": np.full(3, 1 / 3), "b": np.full(3, 1 / 3)})
    row = rep["sets"]["a"]["targets"]["negative_heavy"]
    assert set(rep["sets"]) == {"a", "b"} and {"as_is", "em_adjusted", "true_prior_adjusted"} <= set(row)
    assert row["em_adjusted"]["accuracy"] >= row["as_is"]["accuracy"]
