"""Deciding where a request starts: screening, Tier 0, hints, classification, score, tier.

No answer is generated here. With ``classifier.kind: micro`` the Tier 1 model is asked for a
classification (up to ``max_attempts`` times; invalid output twice starts the request at Tier 2);
otherwise, or when the micro model cannot be reached, the fast learned classifier decides.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from router.core.api import ChatCompletionRequest, Escalation, RouterHints
from router.core.config import RouterConfig
from router.core.errors import (
    ESCALATABLE_ERRORS,
    InvalidClassification,
    PromptRejected,
    RouterError,
)
from router.core.generation import Generation, GenerationRequest
from router.decision.classification import Classification, Classifier
from router.decision.commands import CommandExecutor, CommandMatch
from router.decision.hints import merge_hints, signal_boost
from router.decision.micro_router import classification_request, parse_classification
from router.decision.policy import (
    Bounds,
    apply_workspace,
    clamp,
    starting_tier,
    tier_bounds,
)
from router.decision.safety import screen
from router.decision.scoring import routing_score
from router.storage.workspaces import Workspace

TierCall = Callable[[int, GenerationRequest], Awaitable[Generation]]

_DOCUMENT_MARKER = re.compile(r"(?im)^\s*(?:#+\s*)?(?:document|doc|source|article|passage|report)\s*[#\[(]?\s*\d+")
_SYNTHESIS_CUE = re.compile(r"(?i)\b(compare|contrast|synthesi[sz]e|reconcile|combine|across (?:these|the|all))\b")


def is_multi_document_synthesis(text: str) -> bool:
    """Two or more numbered documents and a request to bring them together."""
    return len(_DOCUMENT_MARKER.findall(text)) >= 2 and _SYNTHESIS_CUE.search(text) is not None


@dataclass
class Plan:
    request_id: str
    start: int
    high: int
    hints: RouterHints
    workspace_id: str | None = None
    low: int = 1  # the lowest tier the request may use (a fallback below the start stays within it)
    score: float | None = None
    classifier: str | None = None
    classification: Classification | None = None
    command: CommandMatch | None = None
    action: CommandMatch | None = None
    reasons: list[str] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    escalated_light: Generation | None = None  # Tier 2's answer when it asked for Tier 3
    lower_tier_fallback: RouterError | None = None  # Tier 3 refused for money or its daily cap
    tried: set[int] = field(default_factory=set)
    cascade: dict[str, object] | None = None  # the last second-opinion verdict: forms, answers, score
    self_quality: float | None = None  # Tier 2's grade of its own answer, where it gave one
    tier_ms: dict[int, float] = field(default_factory=dict)  # time spent at each tier tried


class Planner:
    def __init__(self, config: RouterConfig, commands: CommandExecutor, learned: Classifier | None,
                 call_tier: TierCall, available_tiers: set[int]) -> None:
        self.config = config
        self.commands = commands
        self.learned = learned
        self.call_tier = call_tier
        self.available_tiers = available_tiers

    async def plan(self, request: ChatCompletionRequest, request_id: str, headers: Mapping[str, str],
                   *, use_models: bool = True, workspace: Workspace | None = None) -> Plan:
        user_texts = [m.text() for m in request.messages if m.role == "user"]
        screen(user_texts, max_input_chars=self.config.limits.max_input_chars)
        text = request.last_user_text()
        hints = merge_hints(request.router, headers)
        match = self.commands.match(text)
        if match is not None:
            return Plan(request_id, 0, 0, hints, command=match, reasons=[f"matched command /{match.name}"])

        bounds = tier_bounds(request, hints, self.config)
        if workspace is not None:
            bounds = apply_workspace(bounds, workspace.settings, workspace.name)
        plan = Plan(request_id, bounds.low, bounds.high, hints, workspace_id=workspace.id if workspace else None,
                    low=bounds.low,
                    reasons=list(bounds.reasons))
        await self._choose_start(plan, text, bounds, use_models)
        if not bounds.auto_escalation and plan.high > plan.start:
            plan.high = plan.start
            plan.reasons.append(f"auto-escalation is off for this workspace: stays at tier {plan.start}")
        return plan

    async def _choose_start(self, plan: Plan, text: str, bounds: Bounds, use_models: bool) -> None:
        classification = await self._classify(plan, text, bounds, use_models)
        if classification is None:
            if bounds.preferred is not None:
                plan.start = bounds.preferred
                plan.reasons.append(f"tier {bounds.preferred}: preferred; no classifier available")
            else:
                plan.reasons.append(f"no classifier available: starting at the lowest allowed tier {bounds.low}")
            return
        if classification.safety_flag:
            raise PromptRejected(f"the request was refused by the safety screen: "
                                 f"{classification.safety_reason or 'flagged by the micro model'}")
        plan.classification = classification
        plan.score = routing_score(classification, self.config.weights, signal_boost(plan.hints, self.config.signal_weights))
        if plan.start > bounds.low:  # invalid micro output already moved the request up
            return
        if bounds.preferred is not None:
            wanted, why = bounds.preferred, f"tier {bounds.preferred}: preferred by the caller or workspace"
        else:
            wanted, why = starting_tier(classification, plan.score, self.config)
        plan.start = clamp(wanted, bounds)
        plan.reasons.append(why if plan.start == wanted else f"{why}, bounded to tier {plan.start}")
        if plan.start == 1 and classification.action and classification.action in self.commands.registry.names:
            arguments = self.commands.registry.argument_names(classification.action)
            plan.action = CommandMatch(classification.action, _action_args(classification, arguments))

    async def _classify(self, plan: Plan, text: str, bounds: Bounds, use_models: bool) -> Classification | None:
        learned = self.learned.classify(text) if self.learned is not None else None
        settings = self.config.classifier
        wants_micro = settings.kind == "micro" and use_models and bounds.low == 1 and 1 in self.available_tiers
        if not wants_micro:
            if learned is not None:
                plan.classifier = "learned"
            return learned
        if settings.prescreen and learned is not None and learned.confidence >= self.config.thresholds.confidence \
                and learned.recommended_tier in (1, 3):
            plan.classifier = "learned"
            plan.reasons.append("the learned classifier was confident: the micro model was not asked")
            return learned
        problems: list[str] = []
        request = classification_request(plan.request_id, text, self.commands.registry.names,
                                         self.config.tiers.micro.max_tokens)
        for _ in range(settings.max_attempts):
            try:
                answer = await self.call_tier(1, request)
                classification = parse_classification(answer.text)
            except InvalidClassification as exc:
                problems.append(exc.message)
                continue
            except ESCALATABLE_ERRORS as exc:
                plan.reasons.append(f"micro classifier unavailable ({exc.code}); the learned classifier decided")
                plan.classifier = "learned" if learned is not None else None
                return learned
            plan.classifier = "micro"
            return classification
        plan.start = max(2, bounds.low)
        plan.escalations.append(Escalation(
            from_tier=1, to_tier=plan.start,
            reason=f"tier 1: {len(problems)} invalid classifications ({problems[-1]})",
            kind="invalid_classification"))
        plan.classifier = "learned" if learned is not None else None
        return learned


def _action_args(classification: Classification, arguments: list[str]) -> dict[str, str]:
    """The classifier names one target; it fills the command's only argument, or ``target``."""
    if not classification.target:
        return {}
    return {arguments[0] if len(arguments) == 1 else "target": classification.target}
