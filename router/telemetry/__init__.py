"""Telemetry: what the router did, for operators. ``records`` (a ``RequestOutcome`` as a routing_decisions
row), ``writer`` (the batched, bounded, off-the-hot-path table writer: an outcome sink), ``metrics`` (the
Prometheus series, over an injected metric factory so no Ray is imported here), ``stats`` (the figures behind
``/v1/routing/stats`` and the dashboard) and ``structured_logs`` (JSON log lines carrying the request id).

May import: core, storage, outcomes.
"""
