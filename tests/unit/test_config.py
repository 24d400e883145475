import pytest

from monitor.config import Settings


def test_env_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("partitions: 2\nkeywords:\n  acme: [acme, 're:acme\\s+inc']\n")
    s = Settings.load(f, env={"MONITOR_BATCH_SIZE": "16", "MONITOR_KEYWORDS": '{"x": ["y"]}'}, metrics_port=1234)
    assert s.partitions == 2 and s.batch_size == 16 and s.keywords == {"x": ["y"]} and s.metrics_port == 1234


def test_invalid_config_is_a_clear_error():
    with pytest.raises(ValueError, match="scorer"):
        Settings.load(None, env={}, scorer="bert")
    with pytest.raises(ValueError, match="multiple"):
        Settings.load(None, env={}, window_s=60, hop_step_s=90)
    with pytest.raises(ValueError):
        Settings.load(None, env={}, unknown_setting=1)
