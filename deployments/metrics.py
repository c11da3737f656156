"""``router.telemetry.metrics`` over ``ray.serve.metrics``: Ray exports the series on its Prometheus endpoint
(each node's metrics agent, ``metrics_export_port``) with a ``ray_`` prefix, tagged with the deployment,
replica and application by Serve."""

from collections.abc import Sequence
from functools import cache

from ray.serve import metrics

from router.telemetry.metrics import RouterMetrics


class ServeMetricFactory:
    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> metrics.Counter:
        return metrics.Counter(name, description=description, tag_keys=tuple(tag_keys))

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> metrics.Gauge:
        return metrics.Gauge(name, description=description, tag_keys=tuple(tag_keys))

    def histogram(self, name: str, description: str, boundaries: Sequence[float],
                  tag_keys: Sequence[str]) -> metrics.Histogram:
        return metrics.Histogram(name, description=description, boundaries=list(boundaries), tag_keys=tuple(tag_keys))


@cache
def router_metrics() -> RouterMetrics:
    """One set per process: a metric name is registered once per worker."""
    return RouterMetrics(ServeMetricFactory())
