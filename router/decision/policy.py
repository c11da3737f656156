"""Which tiers a request may use, and where it starts."""

from dataclasses import dataclass, field

from router.core.api import ChatCompletionRequest, RouterHints
from router.core.config import RouterConfig
from router.core.errors import InvalidRequest, NotFound
from router.decision.classification import Classification
from router.storage.workspaces import WorkspaceSettings, resolve_tiers

# Aliases a caller may put in ``model``: "router" lets the router choose; "tier-N" pins a tier.
MODEL_TIER_BOUNDS: dict[str, tuple[int, int]] = {
    "router": (1, 3),
    "auto": (1, 3),
    "tier-1": (1, 1),
    "tier-2": (2, 2),
    "tier-3": (3, 3),
}


@dataclass
class Bounds:
    low: int
    high: int
    preferred: int | None = None
    reasons: list[str] = field(default_factory=list)
    auto_escalation: bool = True


def tier_bounds(request: ChatCompletionRequest, hints: RouterHints, config: RouterConfig) -> Bounds:
    """Bounds from the model alias, the agent policy and the caller's hints, narrowest wins."""
    if request.model not in MODEL_TIER_BOUNDS:
        raise NotFound(
            f"the model {request.model!r} does not exist; use one of: {', '.join(MODEL_TIER_BOUNDS)}",
            code="model_not_found", param="model",
        )
    low, high = MODEL_TIER_BOUNDS[request.model]
    reasons = [] if request.model in ("router", "auto") else [f"model {request.model} pins the tier"]
    preferred = hints.preferred_tier
    if hints.agent_id is not None:
        policy = config.agents.get(hints.agent_id)
        if policy is None:
            raise NotFound(f"no agent policy named {hints.agent_id!r} is configured (agents)", code="unknown_agent",
                           param="router.agent_id")
        if policy.min_tier is not None and policy.min_tier > low:
            low = policy.min_tier
            reasons.append(f"agent {hints.agent_id} requires tier >= {low}")
        if preferred is None and policy.preferred_tier is not None:
            preferred = policy.preferred_tier
    if hints.min_tier is not None and hints.min_tier > low:
        low = hints.min_tier
        reasons.append(f"caller asked for tier >= {low}")
    if hints.max_tier is not None and hints.max_tier < high:
        high = hints.max_tier
        reasons.append(f"caller asked for tier <= {high}")
    if low > high:
        raise InvalidRequest(
            f"no tier satisfies the request: model {request.model!r} and the router hints leave tiers {low}..{high}",
            param="router",
        )
    return Bounds(low, high, preferred, reasons)


def apply_workspace(bounds: Bounds, settings: WorkspaceSettings, name: str) -> Bounds:
    """Narrow the caller's bounds to the workspace's (403 when they do not meet at all); the
    workspace's default tier is where requests start unless the caller prefers another."""
    plan = resolve_tiers(settings, requested_min=bounds.low if bounds.low > 1 else None,
                         requested_max=bounds.high if bounds.high < 3 else None, requested_tier=bounds.preferred)
    wished = bounds.preferred is not None or settings.default_tier is not None
    preferred = plan.start_tier if wished else None
    reasons = bounds.reasons + [f"workspace {name}: {r}" for r in plan.reasons]
    if (settings.min_tier, settings.max_tier) != (1, 3):  # the workspace's own limit, not the caller's
        reasons.append(f"workspace {name} allows tiers {settings.min_tier}..{settings.max_tier}")
    return Bounds(plan.min_tier, plan.max_tier, preferred, reasons, settings.enable_auto_escalation)


def starting_tier(classification: Classification, score: float, config: RouterConfig) -> tuple[int, str]:
    """The tier the classification asks for, before bounds are applied."""
    t = config.thresholds
    if (classification.recommended_tier == 1 and classification.confidence >= t.confidence
            and classification.complexity_score <= t.complexity):
        return 1, (f"tier 1: recommended with confidence {classification.confidence:.2f} >= {t.confidence} "
                   f"and complexity {classification.complexity_score:.2f} <= {t.complexity}")
    if score >= t.frontier_score:
        return 3, f"tier 3: routing score {score:.2f} >= {t.frontier_score}"
    if classification.recommended_tier == 3:
        return 3, "tier 3: the classifier recommends it"
    return 2, f"tier 2: routing score {score:.2f} < {t.frontier_score} but tier 1 conditions not met"


def clamp(tier: int, bounds: Bounds) -> int:
    return min(max(tier, bounds.low), bounds.high)
