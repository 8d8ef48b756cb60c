"""deploy/monitoring/: the Grafana dashboard and the Prometheus alerting rules
hold together and ask only for metrics Flowdeck exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from observability import metrics

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "flowdeck-dashboard.json"
ALERTS = MONITORING / "flowdeck-alerts.yaml"
ALERT_TESTS = MONITORING / "flowdeck-alerts.test.yaml"
_DURATION = re.compile(r"^(\d+[smhdwy])+$")
_METRIC = re.compile(r"\bflowdeck_[a-z_]+\b")


def exported() -> set[str]:
    """Every series name Flowdeck exports, as PromQL sees them."""
    names = {"flowdeck_tasks"}  # webapp.metrics.QueueCollector, at scrape time
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        if isinstance(value, Counter):
            names.add(f"{name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif isinstance(value, Gauge):
            names.add(name)
    return names


def named_metrics(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [
        v["definition"] for v in dashboard["templating"]["list"] if "definition" in v
    ]
    return exprs


def test_the_dashboard_is_valid_json_whose_queries_name_only_our_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "Flowdeck"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        for target in panel["targets"]:
            assert named_metrics(target["expr"]), target["expr"]
    unknown = set().union(*map(named_metrics, dashboard_exprs(dashboard)))
    assert unknown - exported() == set()


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    asked = " ".join(dashboard_exprs(dashboard))
    for metric in (
        "flowdeck_runs_finished_total",  # runs by status, failure rate
        "flowdeck_tasks",  # queue depth
        "flowdeck_task_scheduling_latency_seconds_bucket",  # p50 / p99
        "flowdeck_watcher_lag_seconds",
        "flowdeck_pod_create_seconds_count",  # pod create rate
    ):
        assert re.search(rf"\b{metric}\b", asked), metric
    assert "histogram_quantile(0.5," in asked and "histogram_quantile(0.99," in asked


def test_every_alert_is_well_formed_and_names_only_our_metrics() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    alerts = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert re.fullmatch(r"[A-Z][A-Za-z]+", rule["alert"])
            assert "for" not in rule or _DURATION.match(rule["for"])
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]
            assert rule["annotations"]["description"]
            assert named_metrics(rule["expr"]) <= exported(), rule["alert"]
            assert named_metrics(rule["expr"]), rule["alert"]
            alerts.append(rule["alert"])
    assert len(alerts) == len(set(alerts))
    for wanted in (
        "FlowdeckWatcherStalled",
        "FlowdeckRunFailureRate",
        "FlowdeckQueueGrowing",
        "FlowdeckScheduleMissed",
    ):
        assert wanted in alerts


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus")
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    return found


def test_promtool_accepts_the_rules_and_each_alert_fires_when_it_should() -> None:
    tool = promtool()
    checked = subprocess.run(
        [tool, "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", ALERT_TESTS.name],
        capture_output=True,
        text=True,
        cwd=MONITORING,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tested_alerts = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text()))
    assert {"FlowdeckWatcherStalled", "FlowdeckRunFailureRate"} <= tested_alerts
