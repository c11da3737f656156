"""Workspaces: who is calling, what they may use, and how their per-request wishes are bounded.

API keys. A key is ``trk_`` + 32 random bytes (``secrets``), shown once when made. Only a
keyed hash is stored: HMAC-SHA256 under a server pepper when one is configured
(``TIERED_ROUTER_KEY_PEPPER`` or ``TIERED_ROUTER_KEY_PEPPER_FILE``), else plain SHA-256.
A slow, salted password hash (bcrypt, argon2) exists to resist guessing low-entropy
passwords; a 256-bit random key cannot be guessed, so a fast hash is as safe and keeps
authentication cheap on every request. The pepper adds that a stolen database alone is not
enough even to check a candidate key. The hash is deterministic, so the row is found by an
indexed equality lookup, then confirmed with ``hmac.compare_digest``; a miss compares
against a dummy so both paths do the same work. The stored hash names its scheme, so
adding a pepper later fails loudly (every key must be re-issued) rather than silently.
"""

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection, Row, or_, select, update

from router.core.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from router.storage.database import Clock, Database, utc_now
from router.storage.schema import workspaces

log = logging.getLogger(__name__)

LOCAL_WORKSPACE_ID = "local"
KEY_PREFIX = "trk_"
PEPPER_ENV = "TIERED_ROUTER_KEY_PEPPER"
PEPPER_FILE_ENV = "TIERED_ROUTER_KEY_PEPPER_FILE"

# A workspace name: 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit. So it can
# stand in a URL path, a shell argument, a log line or a Prometheus label without quoting or escaping.
WORKSPACE_NAME_MAX = 64
WORKSPACE_NAME_RULE = (f"1-{WORKSPACE_NAME_MAX} characters: ASCII letters, digits, '-', '_' or '.', "
                       "starting with a letter or digit")
_WORKSPACE_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{WORKSPACE_NAME_MAX - 1}}}")
# The most a budget or cap may be: a billion dollars is 10**18 nano-dollars, within a signed 64-bit column
# with room for what is spent and reserved beside it.
MAX_USD = Decimal(10**9)


def check_workspace_name(name: object) -> str:
    """``name`` if it is a valid workspace name, else ``InvalidRequest`` saying what one may be."""
    if isinstance(name, str) and _WORKSPACE_NAME.fullmatch(name):
        return name
    if not isinstance(name, str):
        problem = f"a workspace name must be a string, not {type(name).__name__}"
    elif not name:
        problem = "the workspace name is empty"
    elif len(name) > WORKSPACE_NAME_MAX:
        problem = f"the workspace name is {len(name)} characters long"
    else:
        shown = name if len(name) <= 32 else name[:32] + "..."
        problem = f"invalid workspace name {shown!r}"
    raise InvalidRequest(f"{problem}; a workspace name is {WORKSPACE_NAME_RULE}",
                         code="invalid_workspace_name", param="name")


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_tier: int = Field(default=1, ge=1, le=3)
    max_tier: int = Field(default=3, ge=1, le=3)
    default_tier: int | None = Field(default=None, ge=1, le=3, description="where requests start; None: min_tier")
    preferred_providers: list[str] = Field(default_factory=list, description="frontier providers tried first")
    enable_auto_escalation: bool = True
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD, description="None: no monthly limit")
    max_cost_per_request_usd: Decimal | None = Field(default=None, ge=0, le=MAX_USD,
                                                     description="None: no per-request limit")
    allow_server_keys: bool = Field(default=True, description="may use the server's provider keys, not only its own")
    requests_per_minute: int | None = Field(default=None, gt=0, le=10**9,
                                            description="requests admitted per clock minute; None: no limit")
    tokens_per_minute: int | None = Field(default=None, gt=0, le=10**9,
                                          description="estimated prompt + completion tokens admitted per clock minute, "
                                                      "corrected to the real count when a request ends; "
                                                      "None: no limit")

    @field_validator("min_tier", "max_tier", "default_tier", mode="before")
    @classmethod
    def _tier_not_a_bool(cls, value: Any) -> Any:
        # Lax validation would read JSON true as tier 1.
        if isinstance(value, bool):
            raise ValueError("a tier is a number 1-3, not true or false")  # noqa: TRY004 - pydantic reports ValueError
        return value

    @field_validator("requests_per_minute", "tokens_per_minute", mode="before")
    @classmethod
    def _limit_not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # lax validation would read JSON true as a limit of 1
            raise ValueError("a per-minute limit is a whole number, not true or false")  # noqa: TRY004
        return value

    @field_validator("monthly_budget_usd", "max_cost_per_request_usd")
    @classmethod
    def _no_negative_zero(cls, value: Decimal | None) -> Decimal | None:
        return Decimal(0) if value is not None and value == 0 else value

    @model_validator(mode="after")
    def _tiers_ordered(self) -> "WorkspaceSettings":
        if self.min_tier > self.max_tier:
            raise ValueError(f"min_tier ({self.min_tier}) must not exceed max_tier ({self.max_tier})")
        if self.default_tier is not None and not self.min_tier <= self.default_tier <= self.max_tier:
            raise ValueError(f"default_tier ({self.default_tier}) must lie in {self.min_tier}..{self.max_tier}")
        return self


def parse_settings(data: Mapping[str, Any]) -> WorkspaceSettings:
    """Validated settings, or ``InvalidRequest`` naming each bad field."""
    try:
        return WorkspaceSettings.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"invalid workspace settings: {problems}", code="invalid_settings") from None


class Workspace(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    settings: WorkspaceSettings
    has_api_key: bool
    key_hint: str = Field(description="the key's last characters, to tell keys apart; never the key")
    created_at: datetime


class NewWorkspace(BaseModel):
    """What ``create`` returns: the only time the API key exists in clear."""

    workspace: Workspace
    api_key: SecretStr | None


class KeyHasher:
    def __init__(self, pepper: bytes | None = None) -> None:
        self._pepper = pepper or None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "KeyHasher":
        environ = os.environ if environ is None else environ
        if environ.get(PEPPER_FILE_ENV):
            return cls(Path(environ[PEPPER_FILE_ENV]).read_bytes().strip())
        return cls(environ[PEPPER_ENV].encode() if environ.get(PEPPER_ENV) else None)

    def digest(self, key: str) -> str:
        if self._pepper is None:
            return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return "hmac-sha256:" + hmac.new(self._pepper, key.encode(), hashlib.sha256).hexdigest()


_DUMMY_DIGEST = "sha256:" + "0" * 64


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("the Authorization header must be 'Bearer <workspace API key>'")
    return token.strip()


class WorkspaceStore:
    def __init__(self, db: Database, hasher: KeyHasher | None = None, clock: Clock = utc_now) -> None:
        self.db = db
        self.hasher = hasher or KeyHasher()
        self._clock = clock

    def create(self, name: str, settings: WorkspaceSettings | None = None, *, with_api_key: bool = True,
               workspace_id: str | None = None) -> NewWorkspace:
        """A new workspace; ``InvalidRequest`` if the name breaks the naming rule or is taken."""
        check_workspace_name(name)
        key = new_api_key() if with_api_key else None
        now = self._clock().timestamp()
        values = {
            "id": workspace_id or "ws_" + uuid.uuid4().hex[:16], "name": name,
            "key_hash": self.hasher.digest(key) if key else None, "key_hint": key[-4:] if key else "",
            "settings": (settings or WorkspaceSettings()).model_dump_json(), "created_at": now, "updated_at": now,
        }
        with self.db.write() as conn:
            # A name equal to another workspace's id would make ``get(ref)`` ambiguous.
            taken = conn.scalar(select(workspaces.c.id).where(
                or_(workspaces.c.name == name, workspaces.c.id == values["id"], workspaces.c.id == name)))
            if taken is not None:
                raise InvalidRequest(f"a workspace named {name!r} (or with that id) already exists",
                                     code="workspace_exists")
            conn.execute(workspaces.insert().values(**values))
            row = conn.execute(select(workspaces).where(workspaces.c.id == values["id"])).one()
        return NewWorkspace(workspace=_workspace(row), api_key=SecretStr(key) if key else None)

    def get(self, ref: str) -> Workspace:
        """A workspace by id or by name."""
        with self.db.read() as conn:
            return _workspace(_find(conn, ref))

    def update_settings(self, ref: str, /, **changes: Any) -> Workspace:
        """Change some settings; the result is validated as a whole before it is stored."""
        with self.db.write() as conn:
            row = _find(conn, ref)
            settings = parse_settings({**json.loads(row.settings), **changes})
            conn.execute(update(workspaces).where(workspaces.c.id == row.id).values(
                settings=settings.model_dump_json(), updated_at=self._clock().timestamp()))
            row = conn.execute(select(workspaces).where(workspaces.c.id == row.id)).one()
        return _workspace(row)

    def rotate_key(self, ref: str) -> SecretStr:
        """A new API key for the workspace; the old one stops working at once."""
        key = new_api_key()
        with self.db.write() as conn:
            conn.execute(update(workspaces).where(workspaces.c.id == _find(conn, ref).id).values(
                key_hash=self.hasher.digest(key), key_hint=key[-4:], updated_at=self._clock().timestamp()))
        return SecretStr(key)

    def authenticate(self, authorization: str | None, *, allow_local: bool = False) -> Workspace:
        """The workspace an ``Authorization`` header belongs to.

        With ``allow_local`` (the local profile, no authentication), a request whose key names
        a workspace runs as that workspace and any other request as the local workspace: OpenAI
        clients always send some key, and the local profile must not refuse them for it.
        """
        token = bearer_token(authorization)
        if token is None:
            if allow_local:
                return self.ensure_local()
            raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <workspace API key>'")
        if allow_local:
            try:
                return self._by_key(token)
            except AuthenticationFailed:
                return self.ensure_local()
        return self._by_key(token)

    def _by_key(self, token: str) -> Workspace:
        digest = self.hasher.digest(token)
        with self.db.read() as conn:
            row = conn.execute(select(workspaces).where(workspaces.c.key_hash == digest)).first()
        stored = row.key_hash if row is not None else _DUMMY_DIGEST
        if not hmac.compare_digest(stored.encode(), digest.encode()) or row is None:
            raise AuthenticationFailed("invalid API key")
        return _workspace(row)

    def ensure_local(self) -> Workspace:
        """The local profile's workspace (no API key, default settings), created on first use."""
        try:
            return self.get(LOCAL_WORKSPACE_ID)
        except NotFound:
            pass
        log.warning("local profile: requests without an API key run as workspace %r, with no authentication",
                    LOCAL_WORKSPACE_ID)
        try:
            return self.create(LOCAL_WORKSPACE_ID, with_api_key=False, workspace_id=LOCAL_WORKSPACE_ID).workspace
        except InvalidRequest:  # another replica made it first
            return self.get(LOCAL_WORKSPACE_ID)

    async def aget(self, ref: str) -> Workspace:
        return await self.db.run(self.get, ref)

    async def aauthenticate(self, authorization: str | None, *, allow_local: bool = False) -> Workspace:
        return await self.db.run(self.authenticate, authorization, allow_local=allow_local)

    async def aupdate_settings(self, ref: str, /, **changes: Any) -> Workspace:
        return await self.db.run(self.update_settings, ref, **changes)


def _find(conn: Connection, ref: str) -> Row[Any]:
    """The workspace row with this id or name, inside the caller's transaction; 404 when none."""
    row = conn.execute(select(workspaces).where(or_(workspaces.c.id == ref, workspaces.c.name == ref))).first()
    if row is None:
        raise NotFound(f"no workspace {ref!r}", code="workspace_not_found")
    return row


def _workspace(row: Row[Any]) -> Workspace:
    return Workspace(
        id=row.id, name=row.name, settings=WorkspaceSettings.model_validate_json(row.settings),
        has_api_key=row.key_hash is not None, key_hint=row.key_hint or "",
        created_at=datetime.fromtimestamp(row.created_at, UTC),
    )


class TierPlan(BaseModel):
    """The tiers a workspace lets a request use, and where its wishes would start it. Whether it may
    escalate past its start is the planner's call: the start is final only once it is classified."""

    min_tier: int
    max_tier: int
    start_tier: int
    reasons: list[str] = Field(default_factory=list)


def resolve_tiers(settings: WorkspaceSettings, *, requested_min: int | None = None,
                  requested_max: int | None = None, requested_tier: int | None = None) -> TierPlan:
    """Honour a caller's tier wishes within the workspace's bounds.

    A wish partly outside the bounds is narrowed (and the reason says so); one entirely
    outside them is refused with 403, since silently answering from another tier than the
    one asked for would mislead the caller.
    """
    bounds = f"{settings.min_tier}..{settings.max_tier}"
    if requested_min is not None and requested_min > settings.max_tier:
        raise PermissionDenied(f"this workspace allows tiers {bounds}; the request asked for min_tier={requested_min}",
                               code="tier_not_allowed", param="min_tier")
    if requested_max is not None and requested_max < settings.min_tier:
        raise PermissionDenied(f"this workspace allows tiers {bounds}; the request asked for max_tier={requested_max}",
                               code="tier_not_allowed", param="max_tier")
    reasons: list[str] = []
    low, high = settings.min_tier, settings.max_tier
    if requested_min is not None:
        if requested_min < low:
            reasons.append(f"min_tier {requested_min} raised to the workspace minimum {low}")
        low = max(low, requested_min)
    if requested_max is not None:
        if requested_max > high:
            reasons.append(f"max_tier {requested_max} lowered to the workspace maximum {high}")
        high = min(high, requested_max)
    if low > high:
        raise InvalidRequest(f"min_tier ({low}) exceeds max_tier ({high})", param="min_tier")
    wished = requested_tier if requested_tier is not None else settings.default_tier
    start = low if wished is None else min(max(wished, low), high)
    if wished is not None and start != wished:
        reasons.append(f"tier {wished} moved to {start} to stay within {low}..{high}")
    return TierPlan(min_tier=low, max_tier=high, start_tier=start, reasons=reasons)
