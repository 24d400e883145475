"""The soak's RSS growth figures (pure)."""

from monitor.soak import rss_growth


def samples(rss: list[float]) -> list[dict]:
    return [{"t_s": 60.0 * (i + 1), "worker_rss_mb": r} for i, r in enumerate(rss)]


def test_flat_memory_with_one_swing_in_the_last_sample() -> None:
    rss = [1000, 1500] + [2000] * 3 + [2000, 2010, 1990, 2005, 1995] * 4 + [2000] * 4 + [2400]
    g = rss_growth(samples(rss))
    assert g["rss_growth_pct_from_min5"] == 20.0  # two samples: the swing dominates
    assert g["rss_growth_pct_median"] == 0.0  # medians: flat
    assert abs(g["rss_trend_mb_per_min"]) < 10


def test_steady_growth_shows_in_every_figure() -> None:
    rss = [1000 + 20 * i for i in range(30)]  # +20 MB per minute
    g = rss_growth(samples(rss))
    assert g["rss_growth_pct_from_min5"] > 30 and g["rss_growth_pct_median"] > 25
    assert abs(g["rss_trend_mb_per_min"] - 20) < 0.01


def test_short_or_empty_runs() -> None:
    assert rss_growth([])["rss_growth_pct_median"] is None
    g = rss_growth(samples([500, 510]))  # under five minutes: from the first sample
    assert g["rss_growth_pct_from_min5"] == 2.0
