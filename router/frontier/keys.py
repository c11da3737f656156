"""Bring your own key: a workspace's provider keys, encrypted at rest, opened only for its own calls.

Keys are Fernet tokens (AES-128-CBC + HMAC-SHA256) under a master key from
``TIERED_ROUTER_MASTER_KEY`` or the file named by ``TIERED_ROUTER_MASTER_KEY_FILE``. Several
comma-separated master keys make a ``MultiFernet``: the first encrypts, all decrypt, so the
master key can be rotated. Fernet has no associated data, so the plaintext carries the
workspace id and provider name and is checked on decryption: a ciphertext copied into another
workspace's row is refused rather than used for that workspace.

A key in clear exists only inside a ``ProviderCredential`` (its repr hides it), handed to the
engine for one call. Nothing here logs a key, returns it from an admin call, or puts it in
an error message.
"""

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import delete, select, update

from router.core.config import ConfigInvalid, ProviderConfig
from router.core.errors import PermissionDenied
from router.storage.database import Database, StorageError
from router.storage.schema import provider_keys
from router.storage.workspaces import Workspace

MASTER_KEY_ENV = "TIERED_ROUTER_MASTER_KEY"
MASTER_KEY_FILE_ENV = "TIERED_ROUTER_MASTER_KEY_FILE"

KeySource = Literal["workspace", "server", "none"]


def generate_master_key() -> str:
    return Fernet.generate_key().decode()


def load_cipher(environ: Mapping[str, str] | None = None) -> MultiFernet:
    """The master key(s) from the environment, or a secret file; a clear error if absent or malformed."""
    environ = os.environ if environ is None else environ
    if environ.get(MASTER_KEY_FILE_ENV):
        path = Path(environ[MASTER_KEY_FILE_ENV])
        try:
            raw = path.read_text().strip()
        except OSError as exc:
            raise ConfigInvalid(f"cannot read the master key file {path}: {exc.strerror}",
                                code="master_key_missing") from None
        where = str(path)
    else:
        raw, where = environ.get(MASTER_KEY_ENV, "").strip(), MASTER_KEY_ENV
    if not raw:
        raise ConfigInvalid(
            f"no master key for provider keys: set {MASTER_KEY_ENV} (or {MASTER_KEY_FILE_ENV}) to the output of "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`",
            code="master_key_missing",
        )
    try:
        return MultiFernet([Fernet(part.strip().encode()) for part in raw.split(",") if part.strip()])
    except ValueError:
        # The message must not echo the malformed value: it may be most of a real key.
        raise ConfigInvalid(f"the master key in {where} is not a Fernet key (32 url-safe base64-encoded bytes)",
                            code="master_key_invalid") from None


def providers_with_keys(db: Database, workspace_id: str) -> list[str]:
    """The providers a workspace has its own key for (names only; needs no master key)."""
    with db.read() as conn:
        return list(conn.scalars(select(provider_keys.c.provider).where(
            provider_keys.c.workspace_id == workspace_id).order_by(provider_keys.c.provider)))


@dataclass(frozen=True, repr=False)
class ProviderCredential:
    """The key to use for one call to one provider on behalf of one workspace."""

    provider: str
    workspace_id: str
    source: KeySource
    _secret: SecretStr | None = field(default=None, compare=False)

    def reveal(self) -> str | None:
        """The key in clear, for the engine's request header; never store or log the result."""
        return None if self._secret is None else self._secret.get_secret_value()

    def __repr__(self) -> str:
        return f"ProviderCredential(provider={self.provider!r}, workspace_id={self.workspace_id!r}, source={self.source!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Must not be pickled across a Ray boundary into some log or object store by accident.
        raise TypeError("a ProviderCredential is not picklable; resolve it where the call is made")


class ProviderKeyStore:
    def __init__(self, db: Database, cipher: MultiFernet | Fernet, environ: Mapping[str, str] | None = None) -> None:
        self.db = db
        self._cipher = cipher
        self._environ = os.environ if environ is None else environ

    def set_key(self, workspace_id: str, provider: str, key: str | SecretStr) -> None:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        if not secret.strip():
            raise ConfigInvalid("an empty provider key cannot be stored", code="provider_key_empty")
        token = self._cipher.encrypt(json.dumps({"w": workspace_id, "p": provider, "k": secret.strip()}).encode())
        values = {"ciphertext": token.decode(), "updated_at": time.time()}
        with self.db.write() as conn:
            changed = conn.execute(update(provider_keys).where(
                provider_keys.c.workspace_id == workspace_id, provider_keys.c.provider == provider).values(**values))
            if changed.rowcount == 0:
                conn.execute(provider_keys.insert().values(workspace_id=workspace_id, provider=provider, **values))

    def delete_key(self, workspace_id: str, provider: str) -> bool:
        with self.db.write() as conn:
            return conn.execute(delete(provider_keys).where(
                provider_keys.c.workspace_id == workspace_id, provider_keys.c.provider == provider)).rowcount > 0

    def providers_with_keys(self, workspace_id: str) -> list[str]:
        return providers_with_keys(self.db, workspace_id)

    def credential(self, workspace: Workspace, provider: ProviderConfig) -> ProviderCredential:
        """The workspace's own key for the provider; else the server's, if the workspace allows it.

        Raises ``PermissionDenied`` (code ``server_keys_not_allowed`` or ``provider_key_missing``)
        when no usable key exists; the pool then moves on to its next provider.
        """
        own = self._own_key(workspace.id, provider.name)
        if own is not None:
            return ProviderCredential(provider.name, workspace.id, "workspace", SecretStr(own))
        if not provider.api_key_env:
            return ProviderCredential(provider.name, workspace.id, "none")  # a local server that takes no key
        if not workspace.settings.allow_server_keys:
            raise PermissionDenied(
                f"workspace {workspace.name!r} has no key of its own for provider {provider.name!r} and may not "
                "use the server's; add one with `tiered-router workspace add-key`",
                code="server_keys_not_allowed", details={"provider": provider.name},
            )
        server_key = self._environ.get(provider.api_key_env, "").strip()
        if not server_key:
            raise PermissionDenied(
                f"no key for provider {provider.name!r}: the workspace has none and ${provider.api_key_env} is unset",
                code="provider_key_missing", details={"provider": provider.name},
            )
        return ProviderCredential(provider.name, workspace.id, "server", SecretStr(server_key))

    async def acredential(self, workspace: Workspace, provider: ProviderConfig) -> ProviderCredential:
        return await self.db.run(self.credential, workspace, provider)

    def _own_key(self, workspace_id: str, provider: str) -> str | None:
        with self.db.read() as conn:
            token = conn.scalar(select(provider_keys.c.ciphertext).where(
                provider_keys.c.workspace_id == workspace_id, provider_keys.c.provider == provider))
        if token is None:
            return None
        try:
            payload = json.loads(self._cipher.decrypt(token.encode()))
        except InvalidToken:
            raise StorageError(f"the stored key for provider {provider!r} cannot be decrypted with the current "
                               "master key", code="master_key_mismatch") from None
        if payload.get("w") != workspace_id or payload.get("p") != provider:
            raise StorageError(f"the stored key row for provider {provider!r} belongs to another workspace or "
                               "provider; refusing to use it", code="provider_key_misplaced")
        return str(payload["k"])
