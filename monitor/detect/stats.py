"""Tail probabilities for count-aware tests (pure Python, log-space; no SciPy)."""

from __future__ import annotations

import math


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def betabinom_sf(k: int, n: int, alpha: float, beta: float) -> float:
    """P(K >= k) for K ~ BetaBinomial(n, alpha, beta). Exact sum over the upper tail."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    lb = _log_beta(alpha, beta)
    logs = []
    for j in range(k, n + 1):
        logs.append(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                    + _log_beta(j + alpha, n - j + beta) - lb)
    m = max(logs)
    return min(1.0, math.exp(m) * sum(math.exp(x - m) for x in logs))


def negbin_sf(k: int, mean: float, dispersion: float) -> float:
    """P(X >= k) for a negative binomial with this mean and size `dispersion` (variance = mean + mean²/size)."""
    if k <= 0:
        return 1.0
    mean = max(mean, 1e-9)
    r = dispersion
    p = r / (r + mean)  # success probability
    # P(X <= k-1) by summing the pmf in log space
    log_pmf0 = r * math.log(p)
    total = 0.0
    log_pmf = log_pmf0
    for x in range(k):
        if x > 0:
            log_pmf += math.log((x - 1 + r) / x) + math.log(1 - p)
        total += math.exp(log_pmf)
    return max(0.0, min(1.0, 1.0 - total))
