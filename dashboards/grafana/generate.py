#!/usr/bin/env python3
"""Generates the Grafana dashboards of cohort's metrics with grafanalib.

    pip install grafanalib==0.7.1
    python3 dashboards/grafana/generate.py        # writes the JSON beside this file
    python3 dashboards/grafana/generate.py --check  # fails if the JSON is stale

The dashboards are code, not hand-edited JSON: a query is written once
(QUERIES, which the Prometheus test in CI evaluates against real data), the
layout follows from the panel list, and CI regenerates the JSON to catch a
hand edit or a forgotten regeneration. They import into Grafana 10 and later,
with a Prometheus data source chosen by the `datasource` variable.
"""

import json
import sys
from pathlib import Path

from grafanalib.core import (
    Dashboard,
    DashboardLink,
    GridPos,
    Target,
    Template,
    Templating,
    TimeSeries,
)
from grafanalib._gen import DashboardEncoder

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JAEGER_SEARCH = "${jaeger}/search?service=${service}&operation="

# Every query the dashboards run, by panel: `$group` is the drill-down's
# group variable (the overview's queries cover every group).
QUERIES = {
    "runs": 'sum by (group_name, group_outcome) (cohort:group_runs:rate5m{group_name=~"$group"})',
    "partial_failure": 'cohort:partial_failure:ratio_rate5m{group_name=~"$group"}',
    "errors": 'sum by (error_type) (cohort:child_errors:rate5m{group_name=~"$group"})',
    "unhandled": 'sum by (error_type) (cohort:errors_unhandled:rate5m{group_name=~"$group"})',
    "cancelled": 'sum by (cancel_cause) (cohort:children_cancelled:rate5m{group_name=~"$group"})',
    "leaked": 'sum by (group_name, code_location) (cohort_tasks_leaked_total{group_name=~"$group"})',
    "unresponsive": 'sum by (group_name) (cohort_children_unresponsive_total{group_name=~"$group"})',
    "active": 'sum by (group_name) (cohort_groups_active{group_name=~"$group"})',
    "p50": 'cohort:group_duration_seconds:p50_5m{group_name=~"$group"}',
    "p99": 'cohort:group_duration_seconds:p99_5m{group_name=~"$group"}',
    "cancel_latency": 'cohort:cancel_latency_seconds:p99_5m{group_name=~"$group"}',
}

# (title, description, [(query, legend)], unit)
PANELS = [
    ("Runs by outcome", "Group runs a second, by outcome.",
     [("runs", "{{group_name}} {{group_outcome}}")], "reqps"),
    ("Partial-failure rate", "Failed children over spawned children, over 5 minutes: the guide's creeping rate.",
     [("partial_failure", "{{group_name}}")], "percentunit"),
    ("Errors by type", "Leaf failures a second, by error type (a nested group's failure counts once, as its leaves).",
     [("errors", "{{error_type}}")], "short"),
    ("Errors no handler matched", "Leaves a catch chain handed back unmatched, by type: what escapes the handlers.",
     [("unhandled", "{{error_type}}")], "short"),
    ("Cancellations by cause", "Children cancelled a second: collateral (a sibling failed), deadline, parent, explicit, dropped, first success.",
     [("cancelled", "{{cancel_cause}}")], "short"),
    ("Leaked tasks", "Tasks spawned in a group, not by it, that outlived it, by spawn location.",
     [("leaked", "{{group_name}} {{code_location}}")], "short"),
    ("Unresponsive children", "Children still running a set time after their group cancelled them.",
     [("unresponsive", "{{group_name}}")], "short"),
    ("Active groups", "Groups open now.",
     [("active", "{{group_name}}")], "short"),
    ("Group duration p50 / p99", "From a group's creation to the end of its run.",
     [("p50", "p50 {{group_name}}"), ("p99", "p99 {{group_name}}")], "s"),
    ("Cancel latency p99", "From a group's cancel request to the end of its run: how long children take to stop.",
     [("cancel_latency", "{{group_name}}")], "s"),
]


def variables(drill_down):
    group = (
        Template(
            name="group",
            label="Group",
            query='label_values(cohort_group_runs_total, group_name)',
            dataSource=DATASOURCE,
            includeAll=False,
        )
        if drill_down
        else Template(
            name="group",
            label="Group",
            query='label_values(cohort_group_runs_total, group_name)',
            dataSource=DATASOURCE,
            includeAll=True,
            multi=True,
            allValue=".*",
            default="$__all",
        )
    )
    return Templating(list=[
        Template(name="datasource", label="Prometheus", query="prometheus", type="datasource"),
        group,
        Template(name="service", label="Service (in Jaeger)", query="aggregator",
                 type="textbox", default="aggregator"),
        Template(name="jaeger", label="Jaeger UI", query="http://localhost:16686",
                 type="textbox", default="http://localhost:16686"),
    ])


def panels(drill_down):
    out = []
    for i, (title, description, queries, unit) in enumerate(PANELS):
        link = (
            {"title": "This group's traces in Jaeger", "url": JAEGER_SEARCH + "${group}"}
            if drill_down
            else {"title": "Traces in Jaeger", "url": "${jaeger}/search?service=${service}"}
        )
        out.append(TimeSeries(
            title=title,
            description=description,
            dataSource=DATASOURCE,
            targets=[
                Target(expr=QUERIES[key], legendFormat=legend, refId=chr(ord("A") + n),
                       datasource=DATASOURCE)
                for n, (key, legend) in enumerate(queries)
            ],
            unit=unit,
            links=[link],
            gridPos=GridPos(h=8, w=12, x=12 * (i % 2), y=8 * (i // 2)),
        ))
    return out


def dashboard(drill_down):
    return Dashboard(
        title="cohort: one group" if drill_down else "cohort: overview",
        uid="cohort-group" if drill_down else "cohort-overview",
        description="Supervised task groups: runs, partial failures, error types, "
                    "cancellations, leaks and unresponsive children.",
        tags=["cohort"],
        timezone="browser",
        refresh="30s",
        templating=variables(drill_down),
        panels=panels(drill_down),
        links=[DashboardLink(title="cohort dashboards", type="dashboards", tags=["cohort"],
                             asDropdown=False)],
    ).auto_panel_ids()


def render(drill_down):
    data = dashboard(drill_down).to_json_data()
    return json.dumps(data, cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for drill_down, name in [(False, "cohort-overview.json"), (True, "cohort-group.json")]:
        path = HERE / name
        text = render(drill_down)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"stale: {', '.join(stale)}; run python3 dashboards/grafana/generate.py")


if __name__ == "__main__":
    main()
