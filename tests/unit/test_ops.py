"""Operations files: generated from code and up to date, valid for the real promtool / amtool, rule unit tests
pass, dashboards valid against Grafana 10.1's schema, deploy/ manifests well-formed."""

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitor.cli.ops import rendered_files
from monitor.ops.dashboards import panel_queries
from monitor.ops.docs import missing_docs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests/fixtures/grafana/dashboard.v10.1.jsonschema.json"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not installed: run scripts/system-deps.sh (Debian packages prometheus, prometheus-alertmanager)"
    return path


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_generated_files_are_up_to_date():
    stale = [rel for rel, text in rendered_files().items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text]
    assert not stale, f"run `monitor ops render`: {stale}"
    assert missing_docs() == []


def test_promtool_check_config_and_rules():
    r = run(tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 2 rule files found" in r.stdout


def test_promtool_rule_unit_tests():
    r = run(tool("promtool"), "test", "rules", "deploy/prometheus/tests/rules_test.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_rule_tests_can_fail(tmp_path):
    """The rule tests bite: a spike threshold too high for the test data makes them fail."""
    from monitor.ops.rules import RuleWindows, render_rules

    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for name, text in render_rules(RuleWindows(spike_z=1000.0)).items():
        (tmp_path / "rules" / name).write_text(text)
    shutil.copy(ROOT / "deploy/prometheus/tests/rules_test.yml", tmp_path / "tests")
    r = subprocess.run([tool("promtool"), "test", "rules", "tests/rules_test.yml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "MonitorNegativeSentimentSpike" in r.stdout + r.stderr


def test_amtool_check_config():
    r = run(tool("amtool"), "check-config", "deploy/alertmanager/alertmanager.yml")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["overview.json", "sentiment.json"])
def test_dashboards_valid_against_grafana_schema(name):
    d = json.loads((ROOT / "dashboards" / name).read_text())
    schema = json.loads(SCHEMA.read_text())
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(d))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    assert d["uid"].startswith("sentiment-monitor-")
    assert len(panel_queries(d)) >= 8


def test_dashboard_uids_stable_and_topic_variable():
    uids = {json.loads((ROOT / "dashboards" / n).read_text())["uid"] for n in ("overview.json", "sentiment.json")}
    assert uids == {"sentiment-monitor-overview", "sentiment-monitor-topics"}
    topics = json.loads((ROOT / "dashboards/sentiment.json").read_text())
    names = [v["name"] for v in topics["templating"]["list"]]
    assert "topic" in names and "datasource" in names


def test_grafana_provisioning_files():
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "prometheus"
    prov = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/monitor.yml").read_text())
    assert prov["apiVersion"] == 1 and prov["providers"][0]["type"] == "file"


def test_compose_stack_is_consistent():
    c = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    svc = c["services"]
    assert {"kafka", "topics", "worker", "prometheus", "alertmanager", "grafana"} <= set(svc)
    assert svc["kafka"]["image"].startswith("apache/kafka:")
    assert svc["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    for name, s in svc.items():
        for dep in s.get("depends_on", {}):
            assert dep in svc, (name, dep)
        for vol in s.get("volumes", []):
            host = vol.split(":")[0]
            assert (ROOT / "deploy" / host).resolve().exists(), (name, host)
        if "build" in s:
            assert (ROOT / "deploy" / s["build"]["context"] / s["build"]["dockerfile"]).exists()
    assert svc["worker"]["environment"]["MONITOR_BOOTSTRAP_SERVERS"] == "kafka:9092"
    k8s = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/k8s/monitor.yml").read_text())}
    limit = k8s["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert svc["worker"]["mem_limit"].upper() == limit.removesuffix("i").upper()  # one memory limit, 3g == 3Gi
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["worker:9108"]


def test_k8s_manifests():
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy/k8s/monitor.yml").read_text())}
    assert {"ConfigMap", "Job", "Deployment", "Service", "PodDisruptionBudget"} <= set(docs)
    for d in docs.values():
        assert d["apiVersion"] and d["metadata"]["name"]
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    worker = pod["spec"]["containers"][0]
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["resources"]["requests"] and worker["resources"]["limits"]["memory"]
    config = yaml.safe_load(docs["ConfigMap"]["data"]["config.yaml"])
    from monitor.config import Settings

    s = Settings(**config)  # the shipped config is a valid Settings object
    assert dep["spec"]["replicas"] <= s.partitions
    assert docs["Service"]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert docs["PodDisruptionBudget"]["spec"]["selector"] == dep["spec"]["selector"]
    scrape = yaml.safe_load((ROOT / "deploy/k8s/prometheus-scrape.yml").read_text())
    assert scrape["scrape_configs"][0]["kubernetes_sd_configs"]


def test_dockerfile_runs_the_worker_as_non_root():
    text = (ROOT / "deploy/Dockerfile").read_text()
    assert "USER monitor" in text and 'CMD ["worker"]' in text and "torch==2.13.0" in text
    assert "HEALTHCHECK" in text and "9108" in text
