"""The detector configurations from the one settings object: the worker (`detect.stage`), `monitor eval detect` and
`monitor eval stream` build them here, so an evaluation replays exactly the worker's detector."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Settings
from monitor.detect.lifecycle import LifecycleConfig
from monitor.detect.rate import RateConfig
from monitor.detect.volume import VolumeConfig


@dataclass(frozen=True)
class DetectorConfigs:
    rate: RateConfig
    rate_life: LifecycleConfig
    volume: VolumeConfig
    volume_life: LifecycleConfig


def detector_configs(s: Settings) -> DetectorConfigs:
    scales = [x * s.window_s for x in s.detect_scales] if s.detect_scales else list(s.detect_scales_s)
    warmup = s.detect_warmup_s if s.detect_warmup_s is not None else s.detect_warmup_windows * s.window_s
    rate = RateConfig(half_life_s=s.detect_half_life_s, memory_posts=s.detect_memory_posts, warmup_s=float(warmup),
                      min_posts=s.detect_min_posts,
                      p_threshold=s.detect_p_threshold, false_alarms_per_week=s.detect_false_alarms_per_week,
                      min_ratio=s.detect_min_ratio, scales_s=tuple(float(x) for x in scales),
                      overdispersion=s.detect_overdispersion)
    volume = VolumeConfig(half_life_s=s.volume_half_life_s, warmup_s=max(float(warmup), s.volume_warmup_s),
                          p_threshold=s.volume_p_threshold, false_alarms_per_week=s.volume_false_alarms_per_week,
                          min_ratio=s.volume_min_ratio, min_count=s.volume_min_count,
                          scales_s=tuple(float(x) for x in scales))
    return DetectorConfigs(
        rate=rate,
        rate_life=LifecycleConfig(resolve_windows=s.alert_resolve_windows, cooldown_ms=s.alert_cooldown_s * 1000),
        volume=volume,
        volume_life=LifecycleConfig(resolve_windows=s.alert_resolve_windows, cooldown_ms=s.volume_cooldown_s * 1000))
