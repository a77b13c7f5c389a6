#!/usr/bin/env python3
"""Checks dashboards/compose.yaml and the configs it mounts, since CI has no
container engine to run them: every file parses; every mounted file exists;
the collector's pipelines name receivers, processors and exporters it
defines; every dashboard's data source is provisioned; and the hosts and
ports agree between the files.

    pip install pyyaml && python3 dashboards/check_compose.py
"""

import json
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

HERE = Path(__file__).resolve().parent
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def load(path):
    text = (HERE / path).read_text()
    return json.loads(text) if path.endswith(".json") else yaml.safe_load(text)


compose = load("compose.yaml")
collector = load("collector/config.yaml")
prometheus = load("prometheus/prometheus.yml")
datasources = load("grafana/provisioning/datasources/datasources.yaml")["datasources"]
providers = load("grafana/provisioning/dashboards/dashboards.yaml")["providers"]
dashboards = {p.name: load(f"grafana/{p.name}") for p in sorted((HERE / "grafana").glob("*.json"))}
services = compose["services"]


def published(service):
    """Container ports a service publishes."""
    return {int(str(p).split(":")[-1]) for p in services[service].get("ports", [])}


def mounts(service):
    """(host path, container path) of a service's volumes."""
    out = []
    for volume in services[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        out.append((HERE / source, target))
    return out


# Every mounted file or directory exists.
for name in services:
    for source, target in mounts(name):
        check(source.exists(), f"{name}: mounts {source.relative_to(HERE)}, which does not exist")

# The collector's pipelines name components it defines, and every
# component it defines is used.
for kind in ["receivers", "processors", "exporters"]:
    defined = set(collector.get(kind) or {})
    used = set()
    for pipeline, spec in collector["service"]["pipelines"].items():
        for component in spec.get(kind, []):
            used.add(component)
            check(component in defined, f"collector: pipeline {pipeline} names {kind[:-1]} {component}, not defined")
    check(defined <= used, f"collector: {kind} {sorted(defined - used)} defined but in no pipeline")

# The collector's OTLP ports are published, for the service on the host.
for protocol, spec in collector["receivers"]["otlp"]["protocols"].items():
    port = int(spec["endpoint"].rsplit(":", 1)[1])
    check(port in published("otel-collector"), f"compose: otel-collector does not publish its OTLP/{protocol} port {port}")

# Traces go to a Jaeger that is in the stack.
jaeger_host = collector["exporters"]["otlp/jaeger"]["endpoint"].split(":")[0]
check(jaeger_host in services, f"collector: exports traces to {jaeger_host}, not a compose service")

# Prometheus scrapes the collector's Prometheus exporter, on its port.
exporter_port = int(collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1])
targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
check(f"otel-collector:{exporter_port}" in targets, f"prometheus: does not scrape otel-collector:{exporter_port} ({targets})")
for target in targets:
    check(target.split(":")[0] in services, f"prometheus: scrapes {target}, not a compose service")

# The rules Prometheus loads are mounted beside its config.
prometheus_mounts = {target for _, target in mounts("prometheus")}
for rules in prometheus["rule_files"]:
    check(f"/etc/prometheus/{rules}" in prometheus_mounts, f"prometheus: rule file {rules} is not mounted")

# Grafana's data sources point at services of the stack, on their ports.
ports = {"prometheus": 9090, "jaeger": 16686}
for source in datasources:
    url = urlparse(source["url"])
    check(url.hostname in services, f"grafana: data source {source['name']} points at {url.hostname}, not a service")
    check(url.port == ports.get(url.hostname), f"grafana: data source {source['name']} uses port {url.port}")
check(9090 in published("prometheus"), "compose: prometheus does not publish 9090")
check(16686 in published("jaeger"), "compose: jaeger does not publish its UI")

# Grafana loads the dashboards from where they are mounted.
grafana_mounts = dict((target, source) for source, target in mounts("grafana"))
for provider in providers:
    path = provider["options"]["path"]
    check(path in grafana_mounts, f"grafana: dashboards provider reads {path}, which is not mounted")
    if path in grafana_mounts:
        check(any(grafana_mounts[path].glob("*.json")), f"grafana: no dashboard JSON mounted at {path}")

# Every dashboard's data source is provisioned: a provisioned uid, or a
# data-source variable of a type that is provisioned.
uids = {s["uid"] for s in datasources}
types = {s["type"] for s in datasources}
check(dashboards, "no dashboards in grafana/")
for name, dashboard in dashboards.items():
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for panel in dashboard["panels"]:
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
            if not ds:
                continue
            uid = ds["uid"]
            if uid.startswith("${") and uid.endswith("}"):
                variable = variables.get(uid[2:-1])
                check(variable is not None and variable["type"] == "datasource",
                      f"{name}: panel {panel['title']} uses {uid}, not a data-source variable")
                if variable is not None:
                    check(variable["query"] in types,
                          f"{name}: variable {uid} needs a {variable['query']} data source, none provisioned")
            else:
                check(uid in uids, f"{name}: panel {panel['title']} uses data source {uid}, not provisioned")

if problems:
    sys.exit("\n".join(problems))
print(f"compose stack consistent: {len(services)} services, {len(dashboards)} dashboards")
