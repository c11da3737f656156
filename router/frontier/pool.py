"""Tier 3: the frontier pool, plain code. It is handed one ``ProviderEndpoint`` per configured provider
(``deployments/frontier.py`` builds them over engines, tests over fakes) and runs, for answers and streams
alike, the ledger's loop once per provider it tries:

    plan (no I/O) -> for each candidate: admit (key, budget hold, daily-cap slot) -> call the engine
        -> settle with the real usage, or fail (release the hold and the slot, rest or mark the provider down)
    -> none left: the ledger's verdict (402 when money was the only obstacle, else 503 with every reason)

A provider that fails before any output has gone out is passed over for the next; once a stream has sent
text, its failure ends the stream (another provider cannot continue someone else's answer).
"""

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from router.core.config import ProviderConfig, TierSettings
from router.core.errors import ESCALATABLE_ERRORS, RouterError, TierUnavailable
from router.core.generation import Generation, GenerationRequest, StreamDelta, Usage
from router.core.tiers import TierStatus, tier_limits
from router.frontier.keys import ProviderCredential
from router.frontier.ledger import Admitted, FrontierLedger, Refusal
from router.frontier.providers import strategy_for
from router.storage.workspaces import Workspace, WorkspaceStore

NOT_CONFIGURED = "no frontier providers configured: add entries under frontier.providers"
KEYED_ENGINES_PER_PROVIDER = 32  # engines holding workspaces' own keys, kept per provider (least recent go)


class ProviderEngine(Protocol):
    """What the pool calls: ``models.engine.Engine`` has exactly these methods."""

    async def generate(self, request: GenerationRequest, *, max_tokens: int, temperature: float) -> Generation: ...

    def stream(self, request: GenerationRequest, *, max_tokens: int,
               temperature: float) -> AsyncIterator[StreamDelta]: ...

    async def close(self) -> None: ...


class Health(Protocol):
    available: bool
    reason: str


class ProviderEndpoint(Protocol):
    """One provider as the pool sees it: its config, its engine once ready, and its health."""

    config: ProviderConfig

    @property
    def state(self) -> str:
        """created, loading, ready or failed: how far the engine's start-up has got."""

    def ready(self) -> ProviderEngine:
        """The engine, or ``TierUnavailable`` while it is loading or after it failed."""

    def reason(self) -> str:
        """Why it is not ready (empty when it is)."""

    def mark_down(self, reason: str) -> None:
        """A failed call is fresher news than the last health check."""

    async def check(self) -> Health: ...

    def with_key(self, api_key: str) -> ProviderEngine:
        """A new engine for this provider holding a workspace's own API key."""

    async def close(self) -> None: ...


@dataclass
class _Tried:
    """What the pool passed over for one request: left out by the plan or refused, and failed."""

    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def skipped(self) -> list[str]:
        return self.notes + self.failures


class _Attempt:
    """One admitted provider's call. Leaving the block with an error releases what was admitted; an error
    the next provider may not repeat, raised before any output went out, is swallowed (``failed`` is set)
    so the pool moves on."""

    def __init__(self, pool: "FrontierPool", provider: ProviderEndpoint, admitted: Admitted, engine: ProviderEngine,
                 limits: dict[str, Any], tried: _Tried) -> None:
        self.pool, self.provider, self.admitted, self.engine = pool, provider, admitted, engine
        self.limits, self.tried = limits, tried
        self.started = False  # a stream sent output
        self.failed = False

    async def __aenter__(self) -> "_Attempt":
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if exc is None:
            return False
        if isinstance(exc, RouterError):
            self.tried.failures.append(f"{self.provider.config.name}: {exc.message}")
            if isinstance(exc, TierUnavailable):  # admitted only when ready, so this is the engine's own health
                self.provider.mark_down(exc.message)
        await self.pool.ledger.fail(self.admitted, exc)  # cancelled or broken too: the hold must be released
        if isinstance(exc, ESCALATABLE_ERRORS) and not self.started:
            self.failed = True
            return True
        return False


class FrontierPool:
    def __init__(self, providers: Sequence[ProviderEndpoint], ledger: FrontierLedger, workspaces: WorkspaceStore,
                 settings: TierSettings) -> None:
        self.ledger = ledger
        self.settings = settings
        # The order requests try them in (the ledger's prices), so status() names the provider tried first.
        ordered = strategy_for(ledger.frontier.strategy).order([p.config for p in providers],
                                                              ledger.prices.blended_per_1k)
        by_name = {p.config.name: p for p in providers}
        self.providers: list[ProviderEndpoint] = [by_name[c.name] for c in ordered]
        self._by_name = by_name
        self._workspaces = workspaces
        self._keyed: dict[str, OrderedDict[str, ProviderEngine]] = {name: OrderedDict() for name in by_name}

    # ---- answering --------------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> Generation:
        async for attempt in self._attempts(request):
            async with attempt:
                answer = await attempt.engine.generate(request, **attempt.limits)
            if attempt.failed:
                continue
            cost = await self.ledger.succeed(attempt.admitted, answer.usage)
            return answer.model_copy(update={"cost_usd": cost.total_usd, "skipped": attempt.tried.skipped()})
        raise AssertionError("unreachable: _attempts raises when no provider is left")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        async for attempt in self._attempts(request):
            last: StreamDelta | None = None
            async with attempt:
                async for delta in attempt.engine.stream(request, **attempt.limits):
                    if delta.usage is not None:
                        last = delta  # the final delta: settle before it goes out, so it can carry the cost
                        break
                    if not attempt.started and attempt.tried.skipped():
                        delta = delta.model_copy(update={"skipped": attempt.tried.skipped()})
                    attempt.started = True
                    yield delta
            if attempt.failed:
                continue
            cost = await self.ledger.succeed(attempt.admitted, last.usage if last is not None else Usage())
            if last is not None:
                yield last.model_copy(update={"cost_usd": cost.total_usd})
            return

    async def _attempts(self, request: GenerationRequest) -> AsyncIterator[_Attempt]:
        """Each provider the ledger admits, in order; a refusal is noted and skipped. Raises the ledger's
        verdict (402 budget, or 503 with every reason) when none is left."""
        if not self.providers:
            raise TierUnavailable(NOT_CONFIGURED, code="not_configured")
        workspace = await self._workspace(request)
        limits = tier_limits(self.settings, request)  # each provider then clips max_tokens to its context
        plan = self.ledger.plan(workspace, request.messages, max_tokens=limits["max_tokens"],
                                min_completion_tokens=request.max_tokens or 1)
        refusals: list[Refusal] = []
        tried = _Tried(notes=[f"{name}: {why}" for name, why in plan.excluded.items()])
        candidates = plan.candidates
        if request.provider is not None:  # pinned (a cascade's second opinion): no other provider may answer
            candidates = [c for c in candidates if c.provider.name == request.provider]
            if not candidates:
                tried.failures.append(
                    f"{request.provider}: the only provider this request may use, and not a candidate")
        for candidate in candidates:
            provider = self._by_name[candidate.provider.name]
            try:
                provider.ready()  # not admitted while loading or failed: nothing reserved or marked down
            except TierUnavailable:
                tried.failures.append(f"{provider.config.name}: {provider.reason()}")
                continue
            admitted = await self.ledger.admit(workspace, request.request_id, candidate, plan.prompt)
            if isinstance(admitted, Refusal):
                refusals.append(admitted)
                tried.notes.append(f"{admitted.provider}: {admitted.reason}")
                continue
            # Exactly the completion budget the ledger reserved for this provider.
            call_limits = {**limits, "max_tokens": admitted.candidate.estimate.max_completion_tokens}
            yield _Attempt(self, provider, admitted, self._engine_for(provider, admitted.credential), call_limits,
                           tried)
        raise self.ledger.exhausted(plan, refusals, tried.failures)

    async def _workspace(self, request: GenerationRequest) -> Workspace:
        if request.workspace_id is None:
            return await self._workspaces.db.run(self._workspaces.ensure_local)
        return await self._workspaces.aget(request.workspace_id)

    def _engine_for(self, provider: ProviderEndpoint, credential: ProviderCredential) -> ProviderEngine:
        """The provider's engine, or one holding the workspace's own key (cached by the key's fingerprint)."""
        if credential.source != "workspace":
            return provider.ready()
        secret = credential.reveal()
        assert secret is not None
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:24]
        keyed = self._keyed[provider.config.name]
        engine = keyed.get(fingerprint)
        if engine is None:
            engine = keyed[fingerprint] = provider.with_key(secret)
            if len(keyed) > KEYED_ENGINES_PER_PROVIDER:
                keyed.popitem(last=False)  # the oldest; its connections close when collected
        keyed.move_to_end(fingerprint)
        return engine

    # ---- health -------------------------------------------------------------------------------------

    async def status(self) -> TierStatus:
        providers = []
        first_available: ProviderEndpoint | None = None
        for provider in self.providers:
            health = await provider.check()
            name = provider.config.name
            self.ledger.health.availability.record_check(name, health.available, health.reason)
            available, reason = health.available, health.reason
            why = self.ledger.health.why_unavailable(name)
            if available and why:  # cooling down after a 429
                available, reason = False, why
            if available and first_available is None:
                first_available = provider
            providers.append({"name": name, "available": available, "reason": reason, "state": provider.state,
                              "tags": list(provider.config.tags)})
        if first_available is None:
            reason = NOT_CONFIGURED if not providers else "no frontier provider is available"
            return TierStatus(False, reason, detail={"providers": providers})
        return TierStatus(True, provider=first_available.config.name, model=first_available.config.model,
                          detail={"providers": providers})

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()
        for keyed in self._keyed.values():
            for engine in keyed.values():
                await engine.close()
            keyed.clear()
