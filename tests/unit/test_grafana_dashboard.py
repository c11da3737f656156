"""cluster/grafana-dashboard.json reads exactly the series the router exports, under the names Ray gives them
on its Prometheus endpoint (a ``ray_`` prefix; ``_total`` on counters; ``_bucket``/``_sum``/``_count`` on
histograms), and every series the router exports has a panel."""

import json
import re
from pathlib import Path

from router.telemetry.metrics import RouterMetrics
from tests.fakes.metrics import FakeCounter, FakeGauge, FakeMetricFactory

DASHBOARD = Path(__file__).resolve().parents[2] / "cluster" / "grafana-dashboard.json"


def exported_names() -> dict[str, set[str]]:
    factory = FakeMetricFactory()
    RouterMetrics(factory)
    names: dict[str, set[str]] = {}
    for name, metric in factory.made.items():
        if isinstance(metric, FakeCounter):
            names[name] = {f"ray_{name}_total"}
        elif isinstance(metric, FakeGauge):
            names[name] = {f"ray_{name}"}
        else:
            names[name] = {f"ray_{name}_{part}" for part in ("bucket", "sum", "count")}
    return names


def test_every_panel_reads_an_exported_series_and_every_series_has_a_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\bray_router_[a-z_]+", expr)}
    exported = exported_names()
    known = set().union(*exported.values())
    assert used <= known, f"panels read series the router does not export: {sorted(used - known)}"
    unread = [name for name, forms in exported.items() if not forms & used]
    assert unread == [], f"series with no panel: {unread}"


def test_histogram_quantiles_group_by_le():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "histogram_quantile" in target["expr"]:
                assert re.search(r"sum by \(le\b", target["expr"]), target["expr"]
