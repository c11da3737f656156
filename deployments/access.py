"""Who is calling and what is remembered about it: the ingress's view of the ledger database.

Authentication (workspace API keys, or the local profile's default workspace), the escalation
log that the request outcomes are written to (``router.outcomes``), and the admin operations behind
the admin HTTP API. All database work runs off the event loop (``Database.run``).
"""

import logging
import os
from collections.abc import Collection
from typing import Any

from router.admin.administration import Administration, check_admin_key, is_admin_key
from router.core.config import AccessConfig
from router.core.errors import PermissionDenied
from router.frontier.rate_limits import RateLimiter
from router.storage.database import Database, database_url
from router.storage.escalations import EscalationLog
from router.storage.telemetry import TelemetryStore
from router.storage.workspaces import KeyHasher, Workspace, WorkspaceStore

log = logging.getLogger("ray.serve")


class AccessLayer:
    """``providers``: the configured frontier provider names, the only ones the admin API stores keys for."""

    def __init__(self, config: AccessConfig, providers: Collection[str] | None = None) -> None:
        self.config = config
        self.db = Database(database_url(config.database_url))
        self.workspaces = WorkspaceStore(self.db, KeyHasher.from_env())
        self.escalations = EscalationLog(self.db)
        self.telemetry = TelemetryStore(self.db)
        self.rates = RateLimiter(self.db)
        self.admin = Administration(self.workspaces, providers)
        if config.auth == "none":
            log.warning("local profile (access.auth: none): requests without an API key run as workspace 'local' "
                        "with no authentication; set access.auth: workspace_key in production")

    def close(self) -> None:
        self.db.close()

    def set_providers(self, providers: Collection[str]) -> None:
        """A hot reload's provider names, for the admin API's key checks."""
        self.admin.providers = frozenset(providers)

    async def authenticate(self, authorization: str | None) -> Workspace:
        return await self.workspaces.aauthenticate(authorization, allow_local=self.config.auth == "none")

    async def telemetry_scope(self, authorization: str | None, workspace: str | None) -> str | None:
        """Whose telemetry a caller may read: the admin key reads any workspace (``workspace``, else all);
        a workspace key reads its own, and naming another workspace is refused."""
        if is_admin_key(authorization, os.environ):
            if not workspace:
                return None
            return (await self.db.run(self.workspaces.get, workspace)).id
        own = await self.authenticate(authorization)
        if workspace and workspace not in (own.id, own.name):
            raise PermissionDenied(f"this key reads workspace {own.name!r} only, not {workspace!r}",
                                   code="other_workspace", param="workspace")
        return own.id

    async def administer(self, authorization: str | None, operation: str, *args: Any) -> Any:
        check_admin_key(authorization, os.environ)
        return await self.db.run(getattr(self.admin, operation), *args)
