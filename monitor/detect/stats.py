"""Tail probabilities for the count-aware tests, from SciPy (O(1) per value, vectorised, any non-negative value).

Counts may be floats (a volume series of bytes, a weighted count): the tails are continuous in k, computed from the
regularised incomplete beta function, so `k` = 1e9 costs the same as `k` = 3. Everything is also available in log
space (`*_logsf`), which is what the detectors use: a burst whose tail probability underflows 1e-308 still gets a
finite, ordered evidence value instead of a saturated score.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

LN10 = math.log(10.0)


EXACT_BETABINOM_MAX_N = 5000


def betabinom_logsf(k: float, n: float, alpha: float, beta: float) -> float:
    """log P(K >= k) for K ~ BetaBinomial(n, alpha, beta); k and n are rounded to whole posts.

    Exact up to n = 5000 posts (a vectorised log-space sum of SciPy's pmf); above that SciPy sums the tail term by term, so a Beta with the same mean and
    variance as K/n stands in for it (bounded time for n = 1e9; at these n the binomial part of the variance is small
    next to the prior's and the two agree to a few per cent in log-probability)."""
    ki, ni = int(round(k)), int(round(n))
    if ki <= 0:
        return 0.0
    if ki > ni:
        return -math.inf
    with np.errstate(all="ignore"):
        if ni <= EXACT_BETABINOM_MAX_N:
            # log-sum-exp of the pmf over the upper tail (SciPy's own logsf is 1 − cdf and floors near 1e-12)
            j = np.arange(ki, ni + 1)
            return min(0.0, float(special.logsumexp(stats.betabinom.logpmf(j, ni, alpha, beta))))
        mu = alpha / (alpha + beta)
        var = mu * (1 - mu) * (alpha + beta + ni) / (ni * (alpha + beta + 1))
        s = max(mu * (1 - mu) / var - 1.0, 1e-6)
        a, b = mu * s, (1 - mu) * s
        x = min(max((ki - 0.5) / ni, 0.0), 1.0)
        v = float(stats.beta.logsf(x, a, b))
        if not math.isfinite(v):  # leading term of the upper tail
            v = float(stats.beta.logpdf(x, a, b)) + math.log(max(1 - x, 1e-300) / max(b, 1e-300))
        return min(0.0, v)


def betabinom_sf(k: float, n: float, alpha: float, beta: float) -> float:
    """P(K >= k) for K ~ BetaBinomial(n, alpha, beta)."""
    return min(1.0, math.exp(betabinom_logsf(k, n, alpha, beta)))


def negbin_logsf(k: float, mean: float, dispersion: float) -> float:
    """log P(X >= k) for a negative binomial with this mean and size `dispersion` (variance = mean + mean²/size).

    Continuous in k: P(X >= k) = I_{1-p}(k, r) (regularised incomplete beta), p = r / (r + mean), which equals the
    discrete tail at whole k and interpolates between them. Bounded time for any k (1e9 included)."""
    if not k > 0:
        return 0.0
    mean = max(float(mean), 1e-9)
    r = max(float(dispersion), 1e-9)
    q = mean / (r + mean)  # 1 - p
    v = float(special.betainc(k, r, q))
    if v > 0.0:
        return min(0.0, math.log(v))
    # underflow: log of the leading term of the tail series, a lower bound within a factor ~(k+r)/k of the truth
    return min(0.0, float(special.gammaln(k + r) - special.gammaln(k + 1) - special.gammaln(r)
                          + r * math.log1p(-q) + k * math.log(q)))


def negbin_sf(k: float, mean: float, dispersion: float) -> float:
    """P(X >= k) for a negative binomial with this mean and size `dispersion`."""
    return min(1.0, math.exp(negbin_logsf(k, mean, dispersion)))


def negbin_logsf_array(k: np.ndarray, mean: np.ndarray, dispersion: np.ndarray) -> np.ndarray:
    """Vectorised `negbin_logsf` (same formula), for offline series."""
    k = np.asarray(k, dtype=float)
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-9)
    r = np.maximum(np.asarray(dispersion, dtype=float), 1e-9)
    q = mean / (r + mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = special.betainc(np.maximum(k, 1e-12), r, q)
        lead = (special.gammaln(k + r) - special.gammaln(k + 1) - special.gammaln(r) + r * np.log1p(-q)
                + k * np.log(q))
        out = np.where(v > 0, np.log(np.maximum(v, 1e-320)), lead)
    return np.where(k > 0, np.minimum(out, 0.0), 0.0)


def evidence(logsf: float) -> float:
    """Evidence in decimal digits: −log10 of a tail probability (0 = none; 5 = a one-in-100k event)."""
    return max(0.0, -logsf / LN10)


def score_from_evidence(digits: float, scale: float = 10.0) -> float:
    """Map evidence (−log10 p) to [0, 1): strictly increasing, 0 at no evidence, never reaching 1.

    digits / (digits + scale): p = 1e-10 -> 0.5, 1e-30 -> 0.75, 1e-90 -> 0.9, so a NAB-style threshold sweep sees
    distinct values all the way up (1 − p, by contrast, is 1.0 in floating point for every p < 1e-16)."""
    d = max(0.0, digits)
    return d / (d + scale)
