"""Routing decisions for a file of prompts, offline: no generation, no network.

Every input line gets one output line, a decision or an error, so a bad line loses nothing.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from router.cascade.compare import Candidate, compare
from router.core.api import ChatCompletionRequest
from router.core.config import RouterConfig, describe_validation_error
from router.core.errors import InvalidRequest, RouterError, TierUnavailable
from router.core.generation import Generation, GenerationRequest, StreamDelta
from router.core.tiers import TierEndpoint, TierStatus
from router.decision.classification import Classifier
from router.decision.commands import CommandExecutor
from router.decision.dispatcher import Dispatcher
from router.frontier.providers import strategy_for


def offline_dispatcher(config: RouterConfig, classifier: Classifier | None) -> Dispatcher:
    """A dispatcher whose tiers report the configured model and never generate."""

    def endpoint(number: int, provider: str | None, model: str | None) -> TierEndpoint:
        async def generate(request: GenerationRequest) -> Generation:
            raise TierUnavailable("offline routing generates nothing")

        async def stream(request: GenerationRequest) -> AsyncIterator[StreamDelta]:
            raise TierUnavailable("offline routing generates nothing")
            yield  # pragma: no cover

        async def status() -> TierStatus:
            return TierStatus(True, provider=provider, model=model)

        return TierEndpoint(number, generate, stream, status, timeout_s=1.0)

    providers = strategy_for(config.frontier.strategy).order(config.frontier.providers)
    first = providers[0] if providers else None
    tiers = {
        1: endpoint(1, f"micro:{config.tiers.micro.model}", config.tiers.micro.model),
        2: endpoint(2, f"light:{config.tiers.light.model}", config.tiers.light.model),
        3: endpoint(3, first.name if first else None, first.model if first else None),
    }

    async def no_status() -> dict[str, Any]:
        return {"tiers": []}

    return Dispatcher(config, CommandExecutor(config, status=no_status), tiers, classifier=classifier)


def _request(record: Any, line_number: int) -> ChatCompletionRequest:
    if not isinstance(record, dict):
        raise InvalidRequest(f"line {line_number}: expected a JSON object")
    if "messages" in record:
        body = {"messages": record["messages"]}
    elif "prompt" in record:
        body = {"messages": [{"role": "user", "content": record["prompt"]}]}
    else:
        raise InvalidRequest(f"line {line_number}: needs \"messages\" or \"prompt\"")
    try:
        return ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest(f"line {line_number}: " + describe_validation_error(exc, ChatCompletionRequest).strip())


async def route_lines(dispatcher: Dispatcher, lines: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        identifier = str(line_number)
        try:
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InvalidRequest(f"line {line_number}: not valid JSON: {exc}") from None
            if isinstance(record, dict) and "id" in record:
                identifier = str(record["id"])
            request = _request(record, line_number)
            candidates = _candidates(record, line_number)
            decision = await dispatcher.route(request, identifier, use_models=False)
        except RouterError as exc:
            yield {"id": identifier, "error": exc.to_body()["error"]}
            continue
        result: dict[str, Any] = {"id": identifier, "tier": decision.tier, "routing_score": decision.routing_score,
                                  "provider": decision.provider, "reasons": decision.reasons}
        if candidates is not None:
            result.update(_cascade(dispatcher, request.last_user_text(), candidates, decision.routing_score))
        yield result


def _candidates(record: dict[str, Any], line_number: int) -> list[Candidate] | None:
    """``"candidates": [{"source": ..., "content": ...}, ...]``: the local answer first, then the second opinions."""
    if "candidates" not in record:
        return None
    given = record["candidates"]
    where = f"line {line_number}: candidates"
    if not isinstance(given, list) or len(given) < 2:
        raise InvalidRequest(f"{where} must be a list of at least two answers (the local one, then a second opinion)",
                             param="candidates")
    candidates = []
    for index, item in enumerate(given):
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise InvalidRequest(f"{where}[{index}] must be an object with a string \"content\"",
                                 param=f"candidates[{index}]")
        finish = item.get("finish_reason")
        candidates.append(Candidate(str(item.get("source") or f"candidate {index}"), item["content"],
                                    finish if isinstance(finish, str) else None))
    return candidates


def _cascade(dispatcher: Dispatcher, prompt: str, candidates: list[Candidate],
             routing_score: float | None) -> dict[str, Any]:
    """What the cascade would decide once these answers exist: the score, and answer here or escalate."""
    scorer = dispatcher.second_opinion.scorer
    comparison = compare(prompt, candidates)
    score = scorer.score(comparison, 0.5 if routing_score is None else routing_score, prompt)
    threshold = dispatcher.config.cascade.threshold
    return {"escalation_score": round(score, 4),
            "cascade": {"form": comparison.form, "answers": list(comparison.answers),
                        "problems": list(comparison.problems), "agreement": comparison.agreement,
                        "threshold": threshold, "decision": "escalate" if score >= threshold else "answer"}}


def route_file(dispatcher: Dispatcher, source: Path, target: TextIO, *, progress: bool = True) -> tuple[int, int]:
    """Write one decision per input line; return (lines routed, lines refused)."""
    from tqdm import tqdm

    with source.open() as handle:
        lines = handle.readlines()

    async def run() -> tuple[int, int]:
        routed = refused = 0
        bar = tqdm(total=len(lines), unit="prompt", disable=not progress)
        async for result in route_lines(dispatcher, lines):
            target.write(json.dumps(result) + "\n")
            refused += "error" in result
            routed += "error" not in result
            bar.update(1)
        bar.close()
        return routed, refused

    return asyncio.run(run())
