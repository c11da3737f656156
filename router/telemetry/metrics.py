"""The router's Prometheus series, written from each request's outcome.

The metric objects come from an injected ``MetricFactory``: under Serve, ``ray.serve.metrics`` (see
``deployments/metrics.py``), which Ray exports on its Prometheus endpoint with a ``ray_`` prefix; in tests a
recording fake. So nothing here imports Ray. ``cluster/grafana-dashboard.json`` reads these names.
"""

from collections.abc import Sequence
from typing import Protocol

from router.outcomes.outcome import RequestOutcome

LATENCY_BOUNDARIES_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000)
BUDGET_CODES = frozenset({"budget_exceeded"})


class Counter(Protocol):
    def inc(self, value: float = 1.0, tags: dict[str, str] | None = None) -> None: ...


class Gauge(Protocol):
    def set(self, value: float, tags: dict[str, str] | None = None) -> None: ...


class Histogram(Protocol):
    def observe(self, value: float, tags: dict[str, str] | None = None) -> None: ...


class MetricFactory(Protocol):
    def counter(self, name: str, description: str, tag_keys: Sequence[str]) -> Counter: ...

    def gauge(self, name: str, description: str, tag_keys: Sequence[str]) -> Gauge: ...

    def histogram(self, name: str, description: str, boundaries: Sequence[float],
                  tag_keys: Sequence[str]) -> Histogram: ...


def _tier(value: int | None) -> str:
    return "none" if value is None else str(value)


class RouterMetrics:
    """Every series the router exports; one instance per process (metric names are process-global)."""

    def __init__(self, factory: MetricFactory) -> None:
        f = factory
        self.requests = f.counter("router_requests", "requests that reached the router, by the tier that answered "
                                  "(none: no tier did), provider, status and operation",
                                  ("tier", "provider", "status", "operation"))
        self.escalations = f.counter("router_escalations", "steps from one tier to another, by kind",
                                     ("from_tier", "to_tier", "kind"))
        self.frontier = f.counter("router_frontier_reached", "requests that tried Tier 3 (the frontier pool)",
                                  ("status",))
        self.latency = f.histogram("router_request_latency_ms", "request latency in ms, by answering tier",
                                   LATENCY_BOUNDARIES_MS, ("tier", "status"))
        self.tier_latency = f.histogram("router_tier_latency_ms", "time spent at each tier tried, in ms",
                                        LATENCY_BOUNDARIES_MS, ("tier",))
        self.cost = f.counter("router_cost_usd", "metered cost in USD, by provider and workspace",
                              ("provider", "workspace"))
        self.tokens = f.counter("router_tokens", "tokens, by answering tier and kind (prompt, completion, cached)",
                                ("tier", "kind"))
        self.budget_refusals = f.counter("router_budget_refusals", "requests refused or sent lower for money",
                                         ("workspace",))
        self.provider_available = f.gauge("router_provider_available", "1 when a frontier provider can take calls",
                                          ("provider",))
        self.telemetry_dropped = f.counter("router_telemetry_dropped", "telemetry rows dropped: the queue was full",
                                           ())

    async def record(self, outcome: RequestOutcome) -> None:
        """An outcome sink."""
        answered = outcome.tier if outcome.status == "answered" else None
        tier = _tier(answered)
        provider = outcome.provider or "none"
        workspace = outcome.workspace_id or "none"
        self.requests.inc(1, {"tier": tier, "provider": provider, "status": outcome.status,
                              "operation": outcome.operation})
        self.latency.observe(outcome.latency_s * 1000.0, {"tier": tier, "status": outcome.status})
        for step in outcome.escalations:
            self.escalations.inc(1, {"from_tier": str(step.from_tier), "to_tier": _tier(step.to_tier),
                                     "kind": step.kind})
        if 3 in outcome.tier_path:
            self.frontier.inc(1, {"status": outcome.status})
        if outcome.decision is not None:
            for number, ms in outcome.decision.tier_latency_ms.items():
                self.tier_latency.observe(ms, {"tier": str(number)})
        if outcome.cost_usd:
            self.cost.inc(float(outcome.cost_usd), {"provider": provider, "workspace": workspace})
        usage = outcome.usage
        for kind, count in (("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens),
                            ("cached", usage.cached_prompt_tokens)):
            if count:
                self.tokens.inc(count, {"tier": tier, "kind": kind})
        if outcome.error_code in BUDGET_CODES or any(step.kind == "refused" for step in outcome.escalations):
            self.budget_refusals.inc(1, {"workspace": workspace})

    def dropped(self, count: int) -> None:
        self.telemetry_dropped.inc(count)

    def availability(self, provider: str, available: bool) -> None:
        self.provider_available.set(1.0 if available else 0.0, {"provider": provider})
