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


# --- settings in sections (issue 32, item 2): the flat spelling and the sectioned one are the same settings ---

def _yaml(tmp_path, name: str, data: dict):
    import yaml

    f = tmp_path / name
    f.write_text(yaml.safe_dump(data))
    return f


HOOKS = [{"name": "ops", "url": "https://hooks.example/s3cr3t", "secret": "k3y"}]
FLAT = {"window_s": 300, "grace_s": 10, "topic_raw": "in", "partitions": 2, "keywords": {"acme": ["acme"]},
        "webhooks": HOOKS, "media_encoders": False, "text_backend": "int8", "metrics_port": 1234,
        "detect_scales": [3, 1], "ui_base_url": "", "fault_scorer_marker": "BOOM", "limits": {"max_media": 3}}
BY_SECTION = {"windows": {"window_s": 300, "grace_s": 10}, "kafka": {"topic_raw": "in", "partitions": 2},
              "sources": {"keywords": {"acme": ["acme"]}, "limits": {"max_media": 3}}, "alerts": {"webhooks": HOOKS},
              "media": {"media_encoders": False, "text_backend": "int8"}, "worker": {"metrics_port": 1234},
              "detect": {"detect_scales": [3, 1]}, "ui": {"ui_base_url": ""},
              "testing": {"fault_scorer_marker": "BOOM"}}


def _check_flat_values(s: Settings) -> None:
    assert (s.window_s, s.hop_step_s, s.hop_size_s, s.grace_s) == (300, 300, 1500, 10)
    assert (s.topic_raw, s.partitions, s.keywords, s.webhooks) == ("in", 2, {"acme": ["acme"]}, HOOKS)
    assert (s.media_encoders, s.text_backend, s.metrics_port, s.detect_scales) == (False, "int8", 1234, [1, 3])
    assert (s.ui_base_url, s.fault_scorer_marker, s.limits.max_media, s.limits.max_topics) == ("", "BOOM", 3, 32)


def test_every_setting_lives_in_one_section_and_reads_flat_or_by_section():
    from monitor.config import FLAT_FIELDS, SECTIONS

    owners = [name for model in SECTIONS.values() for name in model.model_fields]
    assert len(owners) == len(set(owners)) == len(FLAT_FIELDS) > 70  # each setting in exactly one section
    assert set(Settings.model_fields) == set(SECTIONS)
    assert {n for n, sec in FLAT_FIELDS.items() if sec == "testing"} == {n for n in FLAT_FIELDS if n.startswith("fault_")}
    assert FLAT_FIELDS["window_s"] == "windows" and FLAT_FIELDS["topic_raw"] == "kafka"
    s = Settings.load(None, env={}, **FLAT)
    _check_flat_values(s)
    for name, section in FLAT_FIELDS.items():
        assert getattr(s, name) == getattr(getattr(s, section), name), name
    assert s.windows.window_s == 300 and s.kafka.topic_raw == "in" and s.testing.fault_scorer_marker == "BOOM"
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018


def test_yaml_flat_by_section_and_mixed_agree(tmp_path):
    flat = Settings.load(_yaml(tmp_path, "flat.yml", FLAT), env={})
    _check_flat_values(flat)
    assert Settings.load(_yaml(tmp_path, "sections.yml", BY_SECTION), env={}) == flat
    mixed = {**{k: v for k, v in BY_SECTION.items() if k != "windows"}, "window_s": 300, "grace_s": 10}
    assert Settings.load(_yaml(tmp_path, "mixed.yml", mixed), env={}) == flat
    assert Settings(**FLAT) == Settings(**BY_SECTION) == flat  # the constructor (test_ops builds the k8s config)
    with pytest.raises(ValueError, match="window_s.*given twice"):
        Settings.load(_yaml(tmp_path, "twice.yml", {"window_s": 60, "windows": {"window_s": 300}}), env={})
    with pytest.raises(ValueError, match="config must be a mapping"):
        Settings.load(_yaml(tmp_path, "list.yml", [1, 2]), env={})  # type: ignore[arg-type]


def test_env_flat_and_sectioned_agree():
    import json

    flat_env = {f"MONITOR_{k.upper()}": v if isinstance(v, str) else json.dumps(v) for k, v in FLAT.items()}
    flat_env["MONITOR_TEXT_BACKEND"] = "int8"  # a bare word, as before
    flat = Settings.load(None, env=flat_env)
    _check_flat_values(flat)
    nested_env = {f"MONITOR_{sec.upper()}__{k.upper()}": v if isinstance(v, str) else json.dumps(v)
                  for sec, fields in BY_SECTION.items() for k, v in fields.items() if k != "limits"}
    nested_env["MONITOR_SOURCES__LIMITS__MAX_MEDIA"] = "3"
    assert Settings.load(None, env=nested_env) == flat
    lower = {k.lower(): v for k, v in nested_env.items()}  # names are case-insensitive, as before
    assert Settings.load(None, env=lower) == flat
    whole = {f"MONITOR_{sec.upper()}": json.dumps(fields) for sec, fields in BY_SECTION.items()}
    assert Settings.load(None, env=whole) == flat  # a section as one JSON object
    both = Settings.load(None, env={"MONITOR_WINDOW_S": "60", "MONITOR_WINDOWS__WINDOW_S": "120"})
    assert both.window_s == 120  # the sectioned variable wins
    with pytest.raises(ValueError, match="multiple"):
        Settings.load(None, env={"MONITOR_WINDOWS__WINDOW_S": "60", "MONITOR_HOP_STEP_S": "90"})
    with pytest.raises(ValueError, match="MONITOR_KEYWORDS: not a valid value for sources.keywords"):
        Settings.load(None, env={"MONITOR_KEYWORDS": "not json"})


def test_overrides_flat_and_by_section_agree():
    from monitor.config import WindowsSettings

    flat = Settings.load(None, env={}, **FLAT, scorer=None)  # None: a flag not given
    _check_flat_values(flat)
    assert flat.scorer == "auto"
    assert Settings.load(None, env={}, **BY_SECTION) == flat
    s = Settings.load(None, env={}, windows=WindowsSettings(window_s=120), grace_s=5)  # a section object + flat
    assert (s.window_s, s.hop_step_s, s.grace_s) == (120, 120, 5)
    with pytest.raises(ValueError, match="given twice"):
        Settings.load(None, env={}, window_s=60, windows={"window_s": 60})


def test_precedence_defaults_yaml_env_overrides(tmp_path):
    cfg = _yaml(tmp_path, "c.yml", {"windows": {"window_s": 120, "grace_s": 7}, "partitions": 2, "topic_raw": "yaml",
                                    "keywords": {"a": ["a"]}, "limits": {"max_media": 2, "max_topics": 5}})
    env = {"MONITOR_TOPIC_RAW": "env-flat", "MONITOR_KAFKA__PARTITIONS": "3", "MONITOR_WINDOW_S": "180",
           "MONITOR_KEYWORDS": '{"b": ["b"]}', "MONITOR_SOURCES__LIMITS__MAX_MEDIA": "4"}
    s = Settings.load(cfg, env=env, windows={"window_s": 240}, metrics_port=1)
    assert s.batch_size == 64  # default
    assert s.grace_s == 7  # YAML, kept when the env sets another field of its section
    assert (s.partitions, s.topic_raw) == (3, "env-flat")  # env over YAML, either spelling
    assert s.window_s == 240 and s.metrics_port == 1  # overrides over env
    assert s.keywords == {"b": ["b"]}  # a mapping is replaced whole, not merged
    assert (s.limits.max_media, s.limits.max_topics) == (4, 5)  # a model (limits) merges field by field
    assert Settings.load(cfg, env={"MONITOR_CONFIG": "/nonexistent"}).topic_raw == "yaml"  # the path wins
    via_env = Settings.load(None, env={"MONITOR_CONFIG": str(cfg)})
    assert via_env.topic_raw == "yaml"


def test_load_reads_the_process_environment_and_settings_does_not(monkeypatch):
    monkeypatch.setenv("MONITOR_WINDOW_S", "120")
    monkeypatch.setenv("MONITOR_KAFKA__TOPIC_RAW", "from-env")
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    s = Settings.load()
    assert s.window_s == 120 and s.topic_raw == "from-env"
    assert Settings.load(None, env={}).window_s == 60 and Settings().window_s == 60
    assert Settings().topic_raw == "posts.raw"


def test_unknown_key_is_an_error_that_names_it(tmp_path):
    with pytest.raises(ValueError, match="unknown_setting"):
        Settings.load(None, env={}, unknown_setting=1)
    with pytest.raises(ValueError, match="windw_s"):
        Settings.load(_yaml(tmp_path, "a.yml", {"windw_s": 60}), env={})
    with pytest.raises(ValueError, match=r"windows\.windw_s"):
        Settings.load(_yaml(tmp_path, "b.yml", {"windows": {"windw_s": 60}}), env={})
    with pytest.raises(ValueError, match="window_s"):  # a setting under the wrong section
        Settings.load(_yaml(tmp_path, "c.yml", {"kafka": {"window_s": 60}}), env={})
    with pytest.raises(ValueError, match="bogus"):
        Settings.load(None, env={"MONITOR_WINDOWS__BOGUS": "1"})
    assert Settings.load(None, env={"MONITOR_UI_TOKEN": "t", "MONITOR_ALLOW_UNTESTED_FAUST": "1"}) == Settings()
    with pytest.raises(ValueError, match="topic_rawx"):
        Settings().model_copy(update={"topic_rawx": "x"})


def test_model_copy_and_replace_take_flat_names():
    from monitor.harness import scratch_settings

    base = Settings.load(None, env={}, window_s=120, webhooks=HOOKS)
    c = base.model_copy(update={"topic_raw": "r", "metrics_port": 5, "windows": {"grace_s": 3}})
    assert (c.topic_raw, c.kafka.topic_raw, c.metrics_port, c.worker.metrics_port, c.grace_s) == ("r", "r", 5, 5, 3)
    assert (c.window_s, c.app_id, c.webhooks) == (120, "sentiment-monitor", HOOKS)  # the rest of each section kept
    assert base.topic_raw == "posts.raw" and base.grace_s == 30  # the original is untouched (frozen)
    scratch = scratch_settings(base, "t")  # the harness: topics (kafka) and metrics port (worker) at once
    assert scratch.topic_raw.startswith("t-raw-") and scratch.app_id.startswith("t-") and scratch.metrics_port != 9108
    r = base.replace(window_s=3600, topic_raw="r")
    assert (r.window_s, r.hop_step_s, r.hop_size_s, r.topic_raw, r.webhooks) == (3600, 3600, 18000, "r", HOOKS)
    assert base.replace(windows={"grace_s": 1}).grace_s == 1
    with pytest.raises(ValueError, match="must be > 0"):
        base.replace(window_s=0)  # replace validates ...
    assert base.model_copy(update={"window_s": 0}).window_s == 0  # ... model_copy, as in pydantic, does not


def test_worker_env_round_trips_through_flat_variables():
    from monitor.harness import WORKER_ENV_FIELDS, scratch_settings, worker_env

    s = scratch_settings(Settings(scorer="vader", partitions=2, batch_size=8, grace_s=4), "rt")
    env = {k: v for k, v in worker_env(s).items() if k.startswith("MONITOR_")}
    back = Settings.load(None, env=env)
    assert [getattr(back, k) for k in WORKER_ENV_FIELDS] == [getattr(s, k) for k in WORKER_ENV_FIELDS]


def test_secrets_stay_out_of_every_repr():
    s = Settings.load(None, env={}, sasl_password="hunter2", webhooks=HOOKS)
    for text in (repr(s), str(s), repr(s.kafka), repr(s.alerts)):
        assert "hunter2" not in text and "k3y" not in text and "s3cr3t" not in text
    assert s.sasl_password == "hunter2" and s.kafka_python_kwargs()["security_protocol"] == "PLAINTEXT"
    assert s.aiokafka_kwargs()["sasl_plain_password"] == "hunter2" and s.ssl_context() is None
    with pytest.raises(ValueError):
        s.kafka.topic_raw = "x"  # type: ignore[misc]  # frozen


def test_configuration_docs_are_grouped_by_section_with_both_variables(monkeypatch):
    from monitor.config import FLAT_FIELDS, SECTIONS, WindowsSettings
    from monitor.ops.docs import configuration_md, missing_docs

    md = configuration_md()
    seen: dict[str, str] = {}
    section = None
    for line in md.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| `"):
            name = line.split("`")[1]
            assert name.startswith(f"{section}."), (name, section)
            seen[name.split(".", 1)[1]] = line
    assert [h[3:] for h in md.splitlines() if h.startswith("## ")] == list(SECTIONS)
    assert set(seen) == (set(FLAT_FIELDS) - {"limits"}) | {f"limits.{n}" for n in ("max_media", "max_topics",
                        "max_message_bytes", "max_text_chars", "max_media_bytes", "max_id_chars")}
    assert "`MONITOR_WINDOWS__WINDOW_S`<br>`MONITOR_WINDOW_S`" in seen["window_s"]
    assert "`MONITOR_TESTING__FAULT_SCORER_MARKER`<br>`MONITOR_FAULT_SCORER_MARKER`" in seen["fault_scorer_marker"]
    assert "`MONITOR_SOURCES__LIMITS__MAX_MEDIA`<br>`MONITOR_LIMITS` (JSON object)" in seen["limits.max_media"]
    assert missing_docs() == []
    monkeypatch.setattr(WindowsSettings.model_fields["grace_s"], "description", None)
    assert missing_docs() == ["windows.grace_s"]
