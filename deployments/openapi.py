"""The ingress's OpenAPI document, made honest: request bodies and every error a route can answer.

The routes read their bodies themselves (bounded JSON, then the router's own validation), so FastAPI
sees no body parameter and would document none; this adds each body's schema and the OpenAI-shaped
error responses, so client generators and API fuzzers see what the router really accepts.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from router.core.api import ChatCompletionRequest, FeedbackRequest
from router.storage.workspaces import WorkspaceSettings

REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    message: str = Field(description="what was wrong, precisely")
    type: str = Field(description="invalid_request_error, authentication_error, rate_limit_error, ...")
    code: str | None = Field(description="a stable machine-readable code, e.g. budget_exceeded")
    param: str | None = Field(default=None, description="the field or header at fault, when one is")
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail


class NewWorkspaceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    settings: WorkspaceSettings | None = None


class SettingsChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    settings: WorkspaceSettings


class ProviderKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: str = Field(min_length=1, description="stored encrypted; never returned")


ERROR_MEANINGS = {
    "400": "malformed or invalid input (body, query or header)",
    "401": "no key, or a key that is not a workspace's (or not the admin key)",
    "402": "over the workspace's budget or per-request cap",
    "403": "the workspace may not do this",
    "404": "no such model, workspace or route",
    "405": "the path does not take this method (see Allow)",
    "413": "the body is over limits.max_body_bytes",
    "422": "well-formed but not processable",
    "429": "rate limited (see Retry-After)",
    "503": "no tier could answer, or the router is not ready (see Retry-After)",
}
CHAT_ERRORS = ("400", "401", "402", "403", "404", "413", "422", "429", "503")
READ_ERRORS = ("400", "401", "403", "404", "503")
ADMIN_WRITE_ERRORS = ("400", "401", "403", "404", "413", "422", "503")

# (path, method) -> (body model or None, the errors it can answer)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel] | None, tuple[str, ...]]] = {
    ("/v1/chat/completions", "post"): (ChatCompletionRequest, CHAT_ERRORS),
    ("/v1/route", "post"): (ChatCompletionRequest, CHAT_ERRORS),
    ("/v1/feedback", "post"): (FeedbackRequest, ("400", "401", "403", "404", "413", "422", "503")),
    ("/v1/routing/stats", "get"): (None, READ_ERRORS),
    ("/v1/models", "get"): (None, ("503",)),
    ("/admin/workspaces", "post"): (NewWorkspaceBody, ADMIN_WRITE_ERRORS),
    ("/admin/workspaces/{ref}", "get"): (None, READ_ERRORS),
    ("/admin/workspaces/{ref}", "patch"): (SettingsChangeBody, ADMIN_WRITE_ERRORS),
    ("/admin/workspaces/{ref}/keys/{provider}", "put"): (ProviderKeyBody, ADMIN_WRITE_ERRORS),
    ("/admin/workspaces/{ref}/spend", "get"): (None, READ_ERRORS),
    ("/admin/workspaces/{ref}/escalations", "get"): (None, READ_ERRORS),
}
STATS_QUERY = [
    {"name": "workspace", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "a workspace id or name (the admin key only)"},
    {"name": "since", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "ISO time, epoch seconds or a duration back from now: 15m, 24h, 7d"},
    {"name": "until", "in": "query", "required": False, "schema": {"type": "string"}},
]


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes,
                           description="A tiered LLM router: OpenAI-compatible chat, routing, feedback and admin.")
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    error_ref = _schema(ErrorBody, components)
    for (path, method), (body, errors) in OPERATIONS.items():
        operation = document["paths"][path][method]
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _schema(body, components)}}}
        if path == "/v1/routing/stats":
            operation["parameters"] = STATS_QUERY
        responses = operation.setdefault("responses", {})
        responses.pop("422", None)  # FastAPI's own validation shape: the router answers in OpenAI's instead
        for status in errors:
            responses[status] = {"description": ERROR_MEANINGS[status],
                                 "content": {"application/json": {"schema": error_ref}}}
        if path.startswith("/admin") or path in ("/v1/routing/stats",):
            operation["security"] = [{"bearer": []}]
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document


def install(app: FastAPI) -> None:
    """Serve the honest document at /openapi.json (built once, on first request)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
