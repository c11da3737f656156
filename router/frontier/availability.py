"""Whether a frontier provider may be tried right now: cool-downs after 429s, and up/down state.

Both are kept in memory per replica: they describe what this replica has just seen, they
change many times a minute, and a replica that has not yet seen a 429 merely learns it on
its own first try. Clocks are injected (``time.monotonic`` by default) so tests never sleep.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MonotonicClock = Callable[[], float]


class CooldownTracker:
    """A provider that answered 429 rests for its Retry-After, or the configured cool-down."""

    def __init__(self, default_s: float = 30.0, *, max_s: float = 3600.0, clock: MonotonicClock = time.monotonic):
        self.default_s = default_s
        self.max_s = max_s  # a bogus Retry-After must not bench a provider for days
        self._clock = clock
        self._until: dict[str, float] = {}

    def rest(self, provider: str, retry_after: float | None = None) -> float:
        """Start (or extend) the provider's rest; returns its length in seconds."""
        seconds = min(self.max_s, retry_after if retry_after is not None and retry_after > 0 else self.default_s)
        until = self._clock() + seconds
        self._until[provider] = max(until, self._until.get(provider, 0.0))
        return seconds

    def remaining(self, provider: str) -> float:
        left = self._until.get(provider, 0.0) - self._clock()
        if left <= 0:
            self._until.pop(provider, None)
            return 0.0
        return left


@dataclass(frozen=True)
class ProviderState:
    up: bool
    reason: str = ""


class AvailabilityTracker:
    """Down after a failed call or health check; up again when a check succeeds."""

    def __init__(self, clock: MonotonicClock = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, ProviderState] = {}

    def mark_down(self, provider: str, reason: str) -> None:
        if self.is_up(provider):
            log.warning("frontier provider %s marked down: %s", provider, reason)
        self._states[provider] = ProviderState(False, reason)

    def mark_up(self, provider: str) -> None:
        if not self.is_up(provider):
            log.info("frontier provider %s is back up", provider)
        self._states[provider] = ProviderState(True)

    def record_check(self, provider: str, ok: bool, reason: str = "") -> None:
        """Apply one health check's outcome."""
        if ok:
            self.mark_up(provider)
        else:
            self.mark_down(provider, reason or "health check failed")

    def is_up(self, provider: str) -> bool:
        return self._states.get(provider, ProviderState(True)).up  # unknown: assume up until shown otherwise

    def state(self, provider: str) -> ProviderState:
        return self._states.get(provider, ProviderState(True))


class ProviderHealth:
    """Cool-downs and availability together: the ``unavailable`` callback of ``select_providers``."""

    def __init__(self, cooldowns: CooldownTracker, availability: AvailabilityTracker) -> None:
        self.cooldowns = cooldowns
        self.availability = availability

    def why_unavailable(self, provider: str) -> str | None:
        state = self.availability.state(provider)
        if not state.up:
            return f"down: {state.reason}"
        left = self.cooldowns.remaining(provider)
        if left > 0:
            return f"cooling down after a rate limit for {left:.0f}s more"
        return None
