"""Workspace administration, shared by the ``tiered-router workspace`` CLI and the admin HTTP API.

Results are plain JSON-able dicts. The workspace API key appears once, in ``create``'s result;
provider keys go in and never come out.
"""

import hmac
import json
from collections.abc import Collection, Mapping
from typing import Any

from router.core.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PermissionDenied,
    RouterError,
    TierUnavailable,
)
from router.frontier.budgets import BudgetLedger, check_month
from router.frontier.keys import ProviderKeyStore, load_cipher, providers_with_keys
from router.storage.escalations import EscalationLog
from router.storage.workspaces import Workspace, WorkspaceStore, parse_settings

ADMIN_KEY_ENV = "TIERED_ROUTER_ADMIN_KEY"


def check_admin_key(authorization: str | None, environ: Mapping[str, str]) -> None:
    """Admin calls need ``Authorization: Bearer $TIERED_ROUTER_ADMIN_KEY``; without that variable they are off."""
    expected = environ.get(ADMIN_KEY_ENV, "")
    if not expected:
        raise PermissionDenied(f"the admin API is disabled: set {ADMIN_KEY_ENV} on the router to enable it",
                               code="admin_disabled")
    if not is_admin_key(authorization, environ):
        raise AuthenticationFailed("invalid admin key", code="invalid_admin_key")


def is_admin_key(authorization: str | None, environ: Mapping[str, str]) -> bool:
    """Whether ``authorization`` carries the admin key (False when the admin API is off)."""
    expected = environ.get(ADMIN_KEY_ENV, "")
    given = (authorization or "").removeprefix("Bearer ").strip()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def describe(workspace: Workspace, key_providers: list[str]) -> dict[str, Any]:
    return {
        "id": workspace.id, "name": workspace.name, "created_at": workspace.created_at.isoformat(),
        "api_key_hint": f"...{workspace.key_hint}" if workspace.has_api_key else None,
        "provider_keys": key_providers,
        "settings": json.loads(workspace.settings.model_dump_json()),
    }


def check_provider(provider: str, providers: Collection[str]) -> None:
    """``InvalidRequest`` unless ``provider`` is one of ``providers`` (the configured frontier providers).

    The message lists the known names but never repeats the one given: a key typed in its place would
    otherwise be echoed.
    """
    if provider in providers:
        return
    known = ", ".join(sorted(providers)) or "none (frontier.providers is empty)"
    raise InvalidRequest(f"unknown provider: the name given is not under frontier.providers; known providers: "
                         f"{known}", code="unknown_provider", param="provider")


def _settings_object(settings: Any) -> Mapping[str, Any]:
    # From JSON, settings may be anything; only an object of fields is settings.
    if not isinstance(settings, Mapping) or not all(isinstance(k, str) for k in settings):
        raise InvalidRequest("workspace settings must be an object of FIELD: VALUE", code="invalid_settings",
                             param="settings")
    return settings


class Administration:
    """``providers``: the names under the config's ``frontier.providers``, the only ones a provider key is
    stored for (keys are looked up by provider name); None leaves the name unchecked."""

    def __init__(self, store: WorkspaceStore, providers: Collection[str] | None = None) -> None:
        self.store = store
        self.db = store.db
        self.providers: frozenset[str] | None = None if providers is None else frozenset(providers)

    def check_provider(self, provider: str) -> None:
        if self.providers is not None:
            check_provider(provider, self.providers)

    def create(self, name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        made = self.store.create(name, parse_settings(_settings_object(settings or {})))
        assert made.api_key is not None
        return {**describe(made.workspace, []), "api_key": made.api_key.get_secret_value()}

    def show(self, ref: str) -> dict[str, Any]:
        workspace = self.store.get(ref)
        return describe(workspace, providers_with_keys(self.db, workspace.id))

    def update(self, ref: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        workspace = self.store.update_settings(ref, **dict(_settings_object(changes)))
        return describe(workspace, providers_with_keys(self.db, workspace.id))

    def add_key(self, ref: str, provider: str, secret: str) -> dict[str, Any]:
        self.check_provider(provider)
        workspace = self.store.get(ref)
        try:
            cipher = load_cipher()
        except RouterError as exc:  # no usable master key: bring-your-own keys are off
            raise TierUnavailable(f"provider keys cannot be stored: {exc.message}", code="byok_disabled") from None
        ProviderKeyStore(self.db, cipher).set_key(workspace.id, provider, secret.strip())
        return {"workspace": workspace.id, "provider": provider, "stored": True}

    def spend(self, ref: str, month: str | None = None) -> dict[str, Any]:
        if month is not None:
            check_month(month)  # before the lookup: a malformed month is the caller's to fix whatever the ref
        summary = BudgetLedger(self.db).spend(self.store.get(ref), month)
        return json.loads(summary.model_dump_json())

    def escalations(self, ref: str, limit: int = 100) -> list[dict[str, Any]]:
        workspace = self.store.get(ref)
        records = EscalationLog(self.db).query(workspace_id=workspace.id, limit=limit)
        return [json.loads(r.model_dump_json()) for r in records]
