"""Workspace administration, shared by the ``tiered-router workspace`` CLI and the admin HTTP API.

Results are plain JSON-able dicts. The workspace API key appears once, in ``create``'s result;
provider keys go in and never come out.
"""

import hmac
import json
from collections.abc import Mapping
from typing import Any

from router.core.errors import (
    AuthenticationFailed,
    PermissionDenied,
    RouterError,
    TierUnavailable,
)
from router.frontier.budgets import BudgetLedger
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


class Administration:
    def __init__(self, store: WorkspaceStore) -> None:
        self.store = store
        self.db = store.db

    def create(self, name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        made = self.store.create(name, parse_settings(settings or {}))
        assert made.api_key is not None
        return {**describe(made.workspace, []), "api_key": made.api_key.get_secret_value()}

    def show(self, ref: str) -> dict[str, Any]:
        workspace = self.store.get(ref)
        return describe(workspace, providers_with_keys(self.db, workspace.id))

    def update(self, ref: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        workspace = self.store.update_settings(ref, **dict(changes))
        return describe(workspace, providers_with_keys(self.db, workspace.id))

    def add_key(self, ref: str, provider: str, secret: str) -> dict[str, Any]:
        workspace = self.store.get(ref)
        try:
            cipher = load_cipher()
        except RouterError as exc:  # no usable master key: bring-your-own keys are off
            raise TierUnavailable(f"provider keys cannot be stored: {exc.message}", code="byok_disabled") from None
        ProviderKeyStore(self.db, cipher).set_key(workspace.id, provider, secret.strip())
        return {"workspace": workspace.id, "provider": provider, "stored": True}

    def spend(self, ref: str, month: str | None = None) -> dict[str, Any]:
        summary = BudgetLedger(self.db).spend(self.store.get(ref), month)
        return json.loads(summary.model_dump_json())

    def escalations(self, ref: str, limit: int = 100) -> list[dict[str, Any]]:
        workspace = self.store.get(ref)
        records = EscalationLog(self.db).query(workspace_id=workspace.id, limit=limit)
        return [json.loads(r.model_dump_json()) for r in records]
