"""The ingress deployment: OpenAI-compatible HTTP, and the same operations as handle methods.

HTTP: POST /v1/chat/completions, POST /v1/route, GET /v1/models, GET /healthz, GET /v1/routing/stats,
POST /v1/feedback, GET /dashboard, and the admin API under /admin (guarded by $TIERED_ROUTER_ADMIN_KEY).
Handle (``serve.get_app_handle("tiered-router")``): ``generate``, ``generate_stream``, ``route``,
``models``, ``health``, each taking and returning plain dicts; failures raise ``router.core.errors`` types.

Note: no ``from __future__ import annotations`` here; it breaks FastAPI parsing under Serve.
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    StreamingResponse,
)
from pydantic import ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments import openapi
from deployments.access import AccessLayer
from deployments.command_http import post_command
from deployments.handles import call_serve_target, tier_endpoint
from deployments.metrics import router_metrics
from router.core.api import (
    ChatCompletionRequest,
    FeedbackRequest,
    RoutingDecision,
    chunk_body,
    completion_body,
    header_value,
    request_id_for,
    request_id_problem,
)
from router.core.config import RouterConfig, describe_validation_error, parse_config
from router.core.errors import (
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RouterError,
)
from router.core.generation import Usage, count_prompt_tokens
from router.core.json_body import parse_json_body
from router.core.tiers import TierEndpoint, TierStatus
from router.decision.classification import load_classifier
from router.decision.commands import CommandExecutor
from router.decision.dispatcher import Completion, Dispatcher
from router.decision.policy import MODEL_TIER_BOUNDS
from router.frontier.pricing import PriceBook
from router.outcomes.ending import Ending, Outcomes
from router.outcomes.recorder import EscalationLogSink, OutcomeRecorder, OutcomeSink
from router.storage.database import utc_now
from router.telemetry.stats import BaselinePrice, RoutingStats, compute_stats, window
from router.telemetry.structured_logs import OutcomeLogSink, install_redaction
from router.telemetry.writer import TelemetryWriter

log = logging.getLogger("ray.serve")
DASHBOARD = Path(__file__).parent / "dashboard"
DASHBOARD_ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
STATS_PARAMS = frozenset({"workspace", "since", "until"})
STATS_MAX_ROWS = 200_000  # a window holding more is summarised from its newest rows

app = FastAPI(title="tiered-router", docs_url=None, redoc_url=None)


def _provider_names(config: RouterConfig) -> list[str]:
    return [provider.name for provider in config.frontier.providers]


def error_response(exc: RouterError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers())


@app.exception_handler(RouterError)
async def _router_error(_: Request, exc: RouterError) -> JSONResponse:
    return error_response(exc)


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(InvalidRequest(f"invalid request: {exc.errors()}"))


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return error_response(NotFound(f"no route {where}", code="unknown_route"))
    if exc.status_code == 405:
        allow = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), None)
        return error_response(MethodNotAllowed(f"{where} is not allowed" + (f"; allowed: {allow}" if allow else ""),
                                               allow=allow))
    return error_response(InvalidRequest(f"{where}: {exc.detail}", code=f"http_{exc.status_code}"))


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("internal error in the router; it has been logged"))


def decision_headers(decision: RoutingDecision) -> dict[str, str]:
    headers = {
        "x-router-tier": str(decision.tier),
        "x-router-escalations": str(len(decision.escalations)),
    }
    if decision.provider:
        headers["x-router-provider"] = decision.provider
    if decision.routing_score is not None:
        headers["x-router-score"] = f"{decision.routing_score:.4f}"
    if decision.escalation_score is not None:
        headers["x-router-escalation-score"] = f"{decision.escalation_score:.4f}"
    return headers


def parse_chat_request(data: Any) -> ChatCompletionRequest:
    if not isinstance(data, dict):
        raise InvalidRequest(f"the request body must be a JSON object, got {type(data).__name__}")
    try:
        return ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(
            "invalid request body:\n" + describe_validation_error(exc, ChatCompletionRequest),
            param=_first_param(exc),
        ) from None


def _first_param(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return ".".join(str(p) for p in errors[0]["loc"]) if errors and errors[0]["loc"] else None


def _serve_request_id() -> str | None:
    """The id Serve gave this request (the x-request-id of an HTTP call; a fresh one for a handle call). Serve
    puts it on every log line of every deployment the request passes through, so the router reuses it."""
    try:
        from ray.serve.context import (
            _get_serve_request_context,  # private, but the only way to read it
        )

        return _get_serve_request_context().request_id or None
    except Exception:  # noqa: BLE001 - an id of our own is made instead
        return None


def _replica_id() -> str | None:
    """Which ingress replica answered: a hot reload keeps it, a restart changes it."""
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - outside Serve there is no replica
        return None


def _authorization(headers: Any) -> str | None:
    return header_value(headers, "authorization")


def _completion_dict(completion: Completion) -> dict[str, Any]:
    return completion_body(
        completion.decision, text=completion.text, usage=completion.usage,
        finish_reason=completion.finish_reason, model=completion.model,
    )


openapi.install(app)


@serve.ingress(app)
class RouterIngress:
    def __init__(
        self, micro: DeploymentHandle, light: DeploymentHandle, frontier: DeploymentHandle,
        router_config: dict[str, Any] | None = None,
    ) -> None:
        self._handles = {1: micro, 2: light, 3: frontier}
        # Configured at construction so no request ever meets a default config; user_config
        # (reconfigure) then applies hot reloads.
        install_redaction(log)
        self._config = parse_config(router_config or {}, source="ingress router_config")
        self._dispatcher = self._build_dispatcher(self._config)
        self._access = AccessLayer(self._config.access, _provider_names(self._config))
        self._writer: TelemetryWriter | None = None
        self._outcomes = self._build_outcomes(self._access, self._config)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        """A hot reload: requests in flight finish on the objects they started with; new ones use the new."""
        config = parse_config(user_config, source="ingress user_config")
        if config == self._config:
            return
        if self._writer is not None:
            await self._writer.flush()  # the rows so far are written under the config they were made with
        if config.access != self._config.access or config.telemetry != self._config.telemetry:
            old_access, old_writer = self._access, self._writer
            if config.access != self._config.access:
                self._access = AccessLayer(config.access, _provider_names(config))
            self._outcomes = self._build_outcomes(self._access, config)
            if old_writer is not None:
                await old_writer.close()
            if old_access is not self._access:
                old_access.close()
        self._access.set_providers(_provider_names(config))
        self._config = config
        self._dispatcher = self._build_dispatcher(config)
        log.info("router config applied: %d commands, %d frontier providers",
                 len(config.commands), len(config.frontier.providers))

    async def __del__(self) -> None:
        """Serve calls this on a graceful shutdown: the telemetry still queued is written first."""
        if self._writer is not None:
            await self._writer.close()
        self._access.close()

    def _build_dispatcher(self, config: RouterConfig) -> Dispatcher:
        timeouts = {1: config.tiers.micro.timeout_s, 2: config.tiers.light.timeout_s, 3: config.tiers.frontier.timeout_s}
        tiers: dict[int, TierEndpoint] = {
            number: tier_endpoint(number, handle, timeouts[number]) for number, handle in self._handles.items()
        }
        commands = CommandExecutor(config, status=self.health, call=call_serve_target, http=post_command)
        classifier = load_classifier("learned", thresholds=config.thresholds)
        return Dispatcher(config, commands, tiers, classifier=classifier, local_admission=False)

    def _build_outcomes(self, access: AccessLayer, config: RouterConfig) -> Outcomes:
        settings = config.telemetry
        metrics = router_metrics() if settings.metrics else None
        sinks: list[OutcomeSink] = [EscalationLogSink(access.escalations)]
        self._writer = None
        if settings.enabled:
            self._writer = TelemetryWriter(access.telemetry, settings,
                                           on_dropped=None if metrics is None else metrics.dropped)
            sinks.append(self._writer)
        if metrics is not None:
            sinks.append(metrics)
        sinks.append(OutcomeLogSink(log))
        return Outcomes(OutcomeRecorder(sinks))

    # ---- operations shared by HTTP and handle callers -------------------------------------------
    # Each begins the request's Ending first, so a request that fails anywhere (parsing included) still
    # ends in exactly one recorded outcome.

    async def generate(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        """``headers`` may carry ``authorization`` (the workspace key) and ``x-router-*`` hints."""
        headers = headers or {}
        async with self._begin(headers, "handle") as ending:
            completion = await self._complete(parse_chat_request(body), headers, ending)
        return _completion_dict(completion)

    async def generate_stream(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        headers = headers or {}
        async with self._begin(headers, "handle") as ending:
            request = parse_chat_request(body)
            started = await self._start_stream(request, headers, ending)
        async for chunk in self._stream_chunks(request, started):
            yield chunk

    async def route(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        headers = headers or {}
        async with self._begin(headers, "handle", "route") as ending:
            decision = await self._route(parse_chat_request(body), headers, ending)
        return decision.model_dump(mode="json")

    @asynccontextmanager
    async def _begin(self, headers: Any, channel: Any, operation: Any = "chat") -> AsyncIterator[Ending]:
        """The request's one outcome; a caller's unusable x-request-id is refused (and recorded) over HTTP."""
        problem = request_id_problem(headers) if channel == "http" else None
        async with self._outcomes.begin(request_id_for(headers, fallback=_serve_request_id()), channel=channel,
                                        operation=operation) as ending:
            if problem:
                raise InvalidRequest(problem, code="invalid_request_id", param="x-request-id")
            yield ending

    async def _authenticate(self, headers: Any, ending: Ending) -> Any:
        workspace = await self._access.authenticate(_authorization(headers))
        ending.workspace_id = workspace.id
        return workspace

    async def _route(self, chat: ChatCompletionRequest, headers: Any, ending: Ending) -> RoutingDecision:
        workspace = await self._authenticate(headers, ending)
        decision = await self._dispatcher.route(chat, ending.request_id, headers, workspace=workspace)
        await ending.routed(decision)
        return decision

    async def _admit_rate(self, chat: ChatCompletionRequest, workspace: Any) -> tuple[int, int] | None:
        """Count the request against the workspace's per-minute limits (shared in the database by every
        replica): 429 with Retry-After when the minute is full. No limits set: no database call at all."""
        settings = workspace.settings
        if settings.requests_per_minute is None and settings.tokens_per_minute is None:
            return None
        estimate = count_prompt_tokens(chat.plain_messages()) + (chat.token_limit() or 0)
        return await self._access.rates.aadmit(workspace, estimate), estimate

    async def _complete(self, chat: ChatCompletionRequest, headers: Any, ending: Ending) -> Completion:
        workspace = await self._authenticate(headers, ending)
        admitted = await self._admit_rate(chat, workspace)
        completion = await self._dispatcher.complete(chat, ending.request_id, headers, workspace=workspace)
        if admitted is not None:  # the real tokens replace the estimate in the minute it was counted
            await self._access.rates.asettle(workspace, admitted[0], admitted[1], completion.usage.total_tokens)
        await ending.answered(completion)
        if self._config.telemetry.log_bodies:  # opted in: prompt and answer text in the log, keys still masked
            log.info("request %s prompt %r answer %r", ending.request_id, chat.last_user_text(), completion.text)
        return completion

    async def _start_stream(self, chat: ChatCompletionRequest, headers: Any, ending: Ending) -> Any:
        workspace = await self._authenticate(headers, ending)
        await self._admit_rate(chat, workspace)  # a stream keeps its estimate: its usage is known only at the end
        started = await self._dispatcher.stream(chat, ending.request_id, headers, workspace=workspace)
        return await ending.streaming(started)

    async def stats(self, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
                    ) -> dict[str, Any]:
        """``params``: ``workspace``, ``since``, ``until`` (ISO 8601 or a span back: 15m, 6h, 7d)."""
        return (await self._stats(params or {}, headers or {})).model_dump(mode="json")

    async def _stats(self, params: Any, headers: Any) -> RoutingStats:
        unknown = sorted(set(params) - STATS_PARAMS)
        if unknown:
            raise InvalidRequest(f"unknown stats parameter(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(sorted(STATS_PARAMS))}", param=unknown[0])
        workspace_id = await self._access.telemetry_scope(_authorization(headers), params.get("workspace"))
        since, until = window(params.get("since"), params.get("until"), now=utc_now())
        if self._writer is not None:
            await self._writer.flush()  # this replica's rows so far are counted
        store = self._access.telemetry
        records = await store.db.run(store.decisions, workspace_id=workspace_id, since=since, until=until,
                                     limit=STATS_MAX_ROWS)
        marks = await store.db.run(store.feedback, workspace_id=workspace_id, since=since)
        provider, price = self._baseline()
        return compute_stats(records, marks, since=since, until=until, workspace_id=workspace_id,
                             baseline_provider=provider, baseline_price=price)

    def _baseline(self) -> tuple[str | None, BaselinePrice | None]:
        """The strongest configured provider and its price: what sending everything there would cost."""
        providers = self._config.frontier.providers
        if not providers:
            return None, None
        strongest = max(providers, key=lambda p: p.quality)
        try:
            book = PriceBook(self._config.frontier)
        except RouterError as exc:
            log.warning("no baseline price for the savings figure: %s", exc.message)
            return strongest.name, None

        def price(prompt_tokens: int, completion_tokens: int) -> Decimal:
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            return book.cost(strongest.name, usage).total_usd

        return strongest.name, price

    async def feedback(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        headers = headers or {}
        if not isinstance(body, dict):
            raise InvalidRequest(f"the feedback must be a JSON object, got {type(body).__name__}")
        try:
            given = FeedbackRequest.model_validate(body)
        except ValidationError as exc:
            raise InvalidRequest("invalid feedback:\n" + describe_validation_error(exc, FeedbackRequest),
                                 param=_first_param(exc)) from None
        workspace = await self._access.authenticate(_authorization(headers))
        store = self._access.telemetry
        try:
            saved = await store.db.run(store.put_feedback, workspace.id, given.request_id, given.value(),
                                       given.comment)
        except NotFound:
            if self._writer is None or not await self._writer.flush():
                raise
            saved = await store.db.run(store.put_feedback, workspace.id, given.request_id, given.value(),
                                       given.comment)
        return {"object": "feedback", "request_id": saved.request_id, "score": saved.score,
                "comment": saved.comment, "at": saved.at.isoformat()}

    async def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 0, "owned_by": "tiered-router"}
                     for name in MODEL_TIER_BOUNDS],
        }

    async def health(self) -> dict[str, Any]:
        tiers: list[dict[str, Any]] = [{"tier": 0, "name": "command", "available": True, "reason": ""}]
        for number, endpoint in self._dispatcher.tiers.items():
            status: TierStatus = await endpoint.status()
            entry: dict[str, Any] = {"tier": number, "name": endpoint.name, "available": status.available,
                                     "reason": status.reason, "provider": status.provider, "model": status.model}
            if "state" in status.detail:  # the model's start-up: created, loading, ready or failed
                entry["state"] = status.detail["state"]
            if "providers" in status.detail:
                entry["providers"] = status.detail["providers"]
            tiers.append(entry)
        model_tiers = [t for t in tiers if t["tier"] > 0]
        available = sum(1 for t in model_tiers if t["available"])
        overall = "ok" if available == len(model_tiers) else ("degraded" if available else "unavailable")
        return {"status": overall, "replica": _replica_id(), "tiers": tiers}

    async def check_health(self) -> None:
        return None

    # ---- HTTP -----------------------------------------------------------------------------------

    async def _read_json(self, request: Request) -> Any:
        limits = self._config.limits
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limits.max_body_bytes} bytes")
        return parse_json_body(await request.body(), max_bytes=limits.max_body_bytes,
                               max_depth=limits.max_json_depth)

    @app.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Any:
        async with self._begin(request.headers, "http") as ending:
            chat = parse_chat_request(await self._read_json(request))
            if chat.stream:
                started = await self._start_stream(chat, request.headers, ending)
                events = self._sse(self._stream_chunks(chat, started))
                return StreamingResponse(events, media_type="text/event-stream",
                                         headers=decision_headers(started.decision))
            completion = await self._complete(chat, request.headers, ending)
        return JSONResponse(_completion_dict(completion), headers=decision_headers(completion.decision))

    @app.post("/v1/route")
    async def route_http(self, request: Request) -> JSONResponse:
        async with self._begin(request.headers, "http", "route") as ending:
            chat = parse_chat_request(await self._read_json(request))
            decision = await self._route(chat, request.headers, ending)
        return JSONResponse(decision.model_dump(mode="json"), headers=decision_headers(decision))

    @app.get("/v1/models")
    async def models_http(self) -> JSONResponse:
        return JSONResponse(await self.models())

    @app.get("/v1/routing/stats")
    async def stats_http(self, request: Request) -> JSONResponse:
        return JSONResponse(await self.stats(dict(request.query_params), request.headers))

    @app.post("/v1/feedback")
    async def feedback_http(self, request: Request) -> JSONResponse:
        return JSONResponse(await self.feedback(await self._read_json(request), request.headers), status_code=201)

    @app.get("/dashboard")
    async def dashboard(self) -> HTMLResponse:
        return HTMLResponse((DASHBOARD / "index.html").read_text())

    @app.get("/dashboard/{asset}")
    async def dashboard_asset(self, asset: str) -> FileResponse:
        if asset not in DASHBOARD_ASSETS:
            raise NotFound(f"no dashboard asset {asset!r}", code="unknown_route")
        return FileResponse(DASHBOARD / asset, media_type=DASHBOARD_ASSETS[asset])

    @app.get("/healthz")
    async def healthz(self) -> JSONResponse:
        report = await self.health()
        return JSONResponse(report, status_code=503 if report["status"] == "unavailable" else 200)

    # ---- admin (Authorization: Bearer $TIERED_ROUTER_ADMIN_KEY) -----------------------------------

    async def _admin(self, request: Request, operation: str, *args: Any) -> Any:
        return await self._access.administer(request.headers.get("authorization"), operation, *args)

    @app.post("/admin/workspaces")
    async def admin_create(self, request: Request) -> JSONResponse:
        body = await self._read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise InvalidRequest('send {"name": "...", "settings": {...}}', param="name")
        made = await self._admin(request, "create", body["name"], body.get("settings") or {})
        return JSONResponse(made, status_code=201)

    @app.get("/admin/workspaces/{ref}")
    async def admin_show(self, ref: str, request: Request) -> JSONResponse:
        return JSONResponse(await self._admin(request, "show", ref))

    @app.patch("/admin/workspaces/{ref}")
    async def admin_update(self, ref: str, request: Request) -> JSONResponse:
        body = await self._read_json(request)
        if not isinstance(body, dict):
            raise InvalidRequest("send the settings to change as a JSON object")
        return JSONResponse(await self._admin(request, "update", ref, body.get("settings", body)))

    @app.put("/admin/workspaces/{ref}/keys/{provider}")
    async def admin_add_key(self, ref: str, provider: str, request: Request) -> JSONResponse:
        body = await self._read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), str) or not body["api_key"].strip():
            raise InvalidRequest('send {"api_key": "..."}', param="api_key")
        return JSONResponse(await self._admin(request, "add_key", ref, provider, body["api_key"]))

    @app.get("/admin/workspaces/{ref}/spend")
    async def admin_spend(self, ref: str, request: Request, month: str | None = None) -> JSONResponse:
        return JSONResponse(await self._admin(request, "spend", ref, month))

    @app.get("/admin/workspaces/{ref}/escalations")
    async def admin_escalations(self, ref: str, request: Request, limit: int = 100) -> JSONResponse:
        return JSONResponse(await self._admin(request, "escalations", ref, min(max(limit, 1), 1000)))

    # ---- streaming --------------------------------------------------------------------------------

    async def _stream_chunks(self, chat: ChatCompletionRequest, started: Any) -> AsyncIterator[dict[str, Any]]:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        decision: RoutingDecision = started.decision
        if isinstance(started, Completion):  # a Tier 0 command: one content chunk
            model = started.model
            yield chunk_body(decision.request_id, model, role="assistant", content=started.text)
            yield chunk_body(decision.request_id, model, finish_reason="stop", router=decision)
            if include_usage:
                yield chunk_body(decision.request_id, model, usage=started.usage)
            return
        first = started.first
        model = first.model or "router"
        yield chunk_body(decision.request_id, model, role="assistant", content=first.text)
        last = first
        async for delta in started.rest:
            last = delta
            if delta.text:
                yield chunk_body(decision.request_id, model, content=delta.text)
        if last.cost_usd is not None:
            decision.cost_usd = str(last.cost_usd)
        yield chunk_body(decision.request_id, model, finish_reason=last.finish_reason or "stop", router=decision)
        if include_usage and last.usage is not None:
            yield chunk_body(decision.request_id, model, usage=last.usage)

    async def _sse(self, chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
        except RouterError as exc:
            # Headers are gone already: report the failure in-band, as OpenAI-compatible servers do.
            yield f"data: {json.dumps(exc.to_body())}\n\n"
        except Exception:
            log.exception("stream failed")
            yield f"data: {json.dumps(InternalError('internal error while streaming').to_body())}\n\n"
        yield "data: [DONE]\n\n"
