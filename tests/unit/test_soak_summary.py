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


def test_growth_from_minute_10_is_judged_on_trend_median_and_peak():
    from monitor.soak import growth_from

    flat = [{"t_s": 60.0 * i, "worker_rss_mb": 1000.0 + (300.0 if i == 30 else 0.0)} for i in range(61)]
    g = growth_from(flat, "worker_rss_mb")
    assert g["median_growth_pct"] == 0.0 and abs(g["trend_pct_per_hour"]) < 5 and g["peak_growth_pct"] == 30.0
    rising = [{"t_s": 60.0 * i, "broker_rss_mb": 100.0 + 50.0 * i} for i in range(61)]
    r = growth_from(rising, "broker_rss_mb")
    assert r["trend_mb_per_hour"] == 3000.0 and r["median_growth_pct"] > 100
    assert growth_from(flat[:5], "worker_rss_mb") is None  # nothing after minute 10
