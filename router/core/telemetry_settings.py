"""The ``telemetry`` section of the router config: the routing-decisions table, metrics and logs."""

from pydantic import BaseModel, ConfigDict, Field


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="write one routing_decisions row per request")
    metrics: bool = Field(default=True, description="export Ray Serve metrics (Prometheus) per request")
    batch_size: int = Field(default=200, gt=0, le=10_000, description="rows per database write")
    flush_interval_s: float = Field(default=1.0, gt=0.0, le=60.0, description="the longest a row waits to be written")
    max_queue: int = Field(
        default=20_000, gt=0,
        description="rows held while the database is slow or down; beyond it rows are dropped and counted "
                    "(router_telemetry_dropped_total and a log line)")
    log_bodies: bool = Field(
        default=False, description="put prompt and answer text in the logs; off by default, as keys always are")
