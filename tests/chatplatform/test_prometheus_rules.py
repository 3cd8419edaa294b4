"""The operators' Prometheus rules and Grafana dashboard (``deploy/``): promtool checks the rules
and runs their unit tests (an error rate that fires the alert, a healthy one that does not, an
open breaker), and every series they read is one the platform exports or the rules record."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import infra.metrics  # noqa: F401 (registers the platform's metrics)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "chatplatform.rules.yml"
_NAME = re.compile(r"\b(chat(?:platform)?[a-z_:0-9]*|celery_[a-z_]+)\b")


def promtool(*args: str) -> str:
    executable = shutil.which("promtool")
    assert executable, "promtool is missing: scripts/ensure-promtool.sh installs it"
    done = subprocess.run([executable, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("check", "rules", str(RULES))
    assert "SUCCESS" in promtool("test", "rules", str(RULES.with_name("chatplatform.rules.test.yml")))


def exported() -> set[str]:
    names = set()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            names.add(sample.name)
        names.add(metric.name)
        names.update(f"{metric.name}{suffix}" for suffix in ("_total", "_bucket", "_count", "_sum"))
    return names


def test_every_series_the_rules_and_the_dashboard_read_exists() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    known = exported() | recorded
    expressions = [rule["expr"] for group in groups for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "chatplatform.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in expressions:
        for name in _NAME.findall(expr):
            assert name in known, f"{name} (in {expr!r}) is neither exported nor recorded"
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {"ChatResponseSlowP50", "ChatResponseSlowP99", "ChatErrorRateHigh", "ChatBreakerOpen"} <= alerts
