"""Tier 1 as a router: the micro model classifies the request into a ``Classification``.

The model is asked for one JSON object (decoding constrained to ``CLASSIFICATION_SCHEMA`` where
the engine supports it); small models still produce broken JSON, so the text is mended with
``json-repair`` and then validated. An output that fails validation counts as one failed attempt.
"""

from typing import Any

import json_repair
from pydantic import ValidationError

from router.core.errors import InvalidClassification
from router.core.generation import GenerationRequest, Message
from router.decision.classification import INTENTS, Classification

CLASSIFICATION_SCHEMA: dict[str, Any] = Classification.model_json_schema()

_SYSTEM_PROMPT = """You route requests to the cheapest model that can answer them well. Do not answer the request.
Reply with exactly one JSON object and nothing else, with these keys:
- intent: one of {intents}
- requires_reasoning: true if answering needs several steps of reasoning
- complexity_score: 0.0 (trivial) to 1.0 (expert, multi-step, long)
- confidence: 0.0 to 1.0, how sure you are of this classification
- recommended_tier: 1 for a one-sentence answer a small model gets right, 2 for short reasoning, 3 for a frontier model
- hallucination_risk: 0.0 to 1.0, how likely a small model is to invent facts here
- action: one of {actions} when the request asks for exactly that, else null
- target: the action's argument as a string, else null
- safety_flag: true if the request asks for clearly harmful content
- safety_reason: a short reason when safety_flag is true, else null"""


def classification_request(request_id: str, user_text: str, actions: list[str], max_tokens: int) -> GenerationRequest:
    prompt = _SYSTEM_PROMPT.format(intents=", ".join(INTENTS), actions=", ".join(actions) or "(none)")
    return GenerationRequest(
        request_id=f"{request_id}-classify",
        messages=[Message(role="system", content=prompt), Message(role="user", content=user_text)],
        max_tokens=max_tokens,
        temperature=0.0,
        json_schema=CLASSIFICATION_SCHEMA,
    )


def parse_classification(text: str) -> Classification:
    """Mend and validate the micro model's output; raise ``InvalidClassification`` saying what was wrong."""
    start = text.find("{")
    candidate = text[start:] if start >= 0 else text
    try:
        data = json_repair.loads(candidate)
    except (ValueError, RecursionError) as exc:
        raise InvalidClassification(f"micro model output is not JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise InvalidClassification(f"micro model output has no JSON object: {text[:120]!r}")
    try:
        return Classification.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise InvalidClassification(f"micro model output failed validation: {problems}") from None
