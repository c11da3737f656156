"""Log hygiene. Serve writes the JSON lines (``logging_config: {encoding: JSON}`` on every deployment): each
line carries the request id Serve propagates through handle calls, so one id follows a request across the
ingress, the tiers and the frontier. What is added here: a filter that masks anything shaped like a
secret (bearer tokens, workspace keys, provider keys) in every record, whatever code logged it, and the one
line per finished request that the outcome sink writes, which holds no prompt or answer text.
"""

import logging
import re

from router.outcomes.outcome import RequestOutcome

MASK = "[redacted]"
# Bearer tokens; our workspace keys (trk_); OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), and generic
# api_key=... / "api_key": "..." pairs.
_SECRET = re.compile(
    r"(?i)(?:bearer\s+[A-Za-z0-9._~+/=-]{8,})"
    r"|(?:\btrk_[A-Za-z0-9_-]{8,})"
    r"|(?:\bsk-[A-Za-z0-9_-]{8,})"
    r"|(?:(?<=api_key=)[^\s&,;]{4,})"
    r"|(?:(?<=\"api_key\": \")[^\"]{4,})"
)


def redact(text: str) -> str:
    return _SECRET.sub(MASK, text)


class RedactSecrets(logging.Filter):
    """Rewrites the message of every record so no secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(*loggers: logging.Logger) -> None:
    """On each logger and its handlers (idempotent): handler filters also see records from child loggers."""
    for target in loggers or (logging.getLogger(),):
        for holder in (target, *target.handlers):
            if not any(isinstance(f, RedactSecrets) for f in holder.filters):
                holder.addFilter(RedactSecrets())


class OutcomeLogSink:
    """One log line per finished request: where and how it ended, never what was asked or answered."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    async def record(self, outcome: RequestOutcome) -> None:
        self.logger.info(
            "request %s %s: %s at tier %s via %s in %.1f ms%s", outcome.request_id, outcome.operation, outcome.status,
            "none" if outcome.tier is None else outcome.tier, outcome.provider or "-", outcome.latency_s * 1000.0,
            f" ({outcome.error_code})" if outcome.error_code else "",
            extra={"router_request_id": outcome.request_id, "router_workspace": outcome.workspace_id,
                   "router_tier": outcome.tier, "router_status": outcome.status,
                   "router_error_code": outcome.error_code},
        )
