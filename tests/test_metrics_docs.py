"""The Grafana dashboard and docs/metrics.md name only series that the processes really export,
and every exported metric is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from pos_pipeline.metrics.consumer import ConsumerMetrics
from pos_pipeline.metrics.simulator import SimulatorMetrics

DOCS = Path(__file__).resolve().parents[1] / "docs"
SERIES = re.compile(r"\bpos_[a-z_]+")


def _exported(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can export (histograms' _bucket, _sum and _count included)."""
    names = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        names |= {s.name for s in family.samples}
    return names


def _all_exported() -> set[str]:
    consumer = ConsumerMetrics()
    consumer.topics(["PointOfSale"])
    return _exported(consumer.registry) | _exported(SimulatorMetrics().registry)


def _expressions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["expr"])] if "expr" in node else []
        return found + [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in _expressions(value)]
    return []


def test_the_grafana_dashboard_queries_only_exported_series() -> None:
    dashboard = json.loads((DOCS / "grafana" / "pos-pipeline.json").read_text())
    expressions = _expressions(dashboard["panels"])
    assert len(expressions) >= 10
    used = {name for expr in expressions for name in SERIES.findall(expr)}
    assert used, expressions
    assert used <= _all_exported(), used - _all_exported()
    assert any("pos_consumer_end_to_end_latency_seconds_bucket" in e for e in expressions)


def test_docs_name_every_metric_and_no_other() -> None:
    text = (DOCS / "metrics.md").read_text()
    named = set(SERIES.findall(text))
    exported = _all_exported()
    assert named <= exported | {"pos_pipeline"}, named - exported
    public = {name for name in exported if not name.endswith(("_bucket", "_sum", "_count"))}
    families = {name for name in public if f"{name}_total" not in public}
    assert families <= named, families - named
