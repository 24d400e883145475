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


def test_kafka_security_pass_through(tmp_path):
    s = Settings.load(None, env={"MONITOR_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "MONITOR_SASL_USERNAME": "u",
                                 "MONITOR_SASL_PASSWORD": "hunter2", "MONITOR_SASL_MECHANISM": "SCRAM-SHA-512"})
    kw = s.kafka_python_kwargs()
    assert kw["security_protocol"] == "SASL_PLAINTEXT" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kw["sasl_plain_username"] == "u" and kw["sasl_plain_password"] == "hunter2"
    assert "hunter2" not in repr(s)
    hooks = '[{"name": "ops", "url": "https://hooks.slack.com/services/T0/B0/s3cr3tpath", "secret": "k3y"}]'
    w = Settings.load(None, env={"MONITOR_WEBHOOKS": hooks})
    assert w.webhooks[0]["secret"] == "k3y" and "k3y" not in repr(w) and "s3cr3tpath" not in repr(w)
    from monitor.app import broker_credentials

    assert broker_credentials(s).mechanism.value == "SCRAM-SHA-512"
    assert broker_credentials(Settings.load(None, env={})) is None
    with pytest.raises(ValueError, match="security_protocol"):
        Settings.load(None, env={}, security_protocol="SASL")


def test_topic_overrides_from_yaml_reach_the_detect_stage(tmp_path):
    from monitor.detect.stage import DetectStage

    cfg = tmp_path / "c.yml"
    cfg.write_text("topic_overrides:\n  $ACME:\n    sensitivity: 4\n    min_posts: 40\n"
                   "    mute: [{start: '13:00', end: '14:00', days: [tue]}]\ndetect_scales: [12, 1, 3]\n")
    s = Settings.load(cfg, env={})
    ov = s.topic_overrides["$ACME"]
    assert ov.sensitivity == 4 and ov.min_posts == 40 and ov.mute[0].days == ["tue"]
    stage = DetectStage(s, metrics=None, outbox=None, table={})  # type: ignore[arg-type]
    assert stage.rate_cfg.scales_s == (60.0, 180.0, 720.0)
    assert stage.controls("$ACME", 0).override is ov and stage.controls("$OTHER", 0).override is None
    bad = tmp_path / "bad.yml"
    bad.write_text("topic_overrides:\n  $ACME:\n    mute: [{start: '9am', end: '10:00'}]\n")
    with pytest.raises(ValueError, match="HH:MM"):
        Settings.load(bad, env={})
    with pytest.raises(ValueError, match="sensitivity"):
        Settings.load(None, env={}, topic_overrides={"$X": {"sensitivity": 0}})


def test_literal_fields_take_a_bare_word_from_the_environment_and_reject_others() -> None:
    import pydantic

    s = Settings.load(None, env={"MONITOR_TEXT_BACKEND": "int8", "MONITOR_FAULT_DROP_ORDERED_STAGE": "deliver"})
    assert s.text_backend == "int8" and s.fault_drop_ordered_stage == "deliver"
    with pytest.raises(pydantic.ValidationError):
        Settings.load(None, env={"MONITOR_TEXT_BACKEND": "int4"})
