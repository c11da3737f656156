"""Who is calling and what is remembered about it: the ingress's view of the ledger database.

Authentication (workspace API keys, or the local profile's default workspace), the escalation
log written after every request, and the admin operations behind the admin HTTP API. All
database work runs off the event loop (``Database.run``).
"""

import logging
import os
from typing import Any

from router.admin.administration import Administration, check_admin_key
from router.core.api import RoutingDecision
from router.core.config import AccessConfig
from router.core.errors import RouterError
from router.storage.escalations import EscalationLog
from router.storage.database import Database, database_url
from router.storage.workspaces import KeyHasher, Workspace, WorkspaceStore

log = logging.getLogger("ray.serve")


class AccessLayer:
    def __init__(self, config: AccessConfig) -> None:
        self.config = config
        self.db = Database(database_url(config.database_url))
        self.workspaces = WorkspaceStore(self.db, KeyHasher.from_env())
        self.escalations = EscalationLog(self.db)
        self.admin = Administration(self.workspaces)
        if config.auth == "none":
            log.warning("local profile (access.auth: none): requests without an API key run as workspace 'local' "
                        "with no authentication; set access.auth: workspace_key in production")

    def close(self) -> None:
        self.db.close()

    async def authenticate(self, authorization: str | None) -> Workspace:
        return await self.workspaces.aauthenticate(authorization, allow_local=self.config.auth == "none")

    async def record(self, workspace: Workspace, decision: RoutingDecision) -> None:
        if decision.escalations:
            await self.escalations.arecord_decision(workspace.id, decision)

    async def record_failure(self, workspace: Workspace, request_id: str, error: RouterError) -> None:
        """A failed request is remembered too: the chain it tried, or the error it ended with."""
        tried = error.details.get("tried") or []
        steps = [(t["from_tier"], t["to_tier"], t["reason"]) for t in tried]
        if not steps:
            steps = [(0, None, f"failed: {error.code}: {error.message}")]
        try:
            await self.db.run(self.escalations.record_many, workspace.id, request_id, steps)
        except RouterError:
            log.exception("could not record the failure of request %s", request_id)

    async def administer(self, authorization: str | None, operation: str, *args: Any) -> Any:
        check_admin_key(authorization, os.environ)
        return await self.db.run(getattr(self.admin, operation), *args)
