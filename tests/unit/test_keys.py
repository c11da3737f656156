"""Bring your own key: encrypted at rest, used only for its own workspace, never shown anywhere."""

import logging
import pickle

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from router.core.config import ConfigInvalid, ProviderConfig
from router.core.errors import PermissionDenied
from router.frontier.keys import ProviderKeyStore, generate_master_key, load_cipher
from router.storage.database import StorageError
from router.storage.schema import provider_keys
from router.storage.workspaces import WorkspaceSettings, WorkspaceStore

SECRET = "sk-live-THIS-MUST-NEVER-LEAK-0123456789"
SERVER_SECRET = "sk-server-key-9876"
OPENAI = ProviderConfig(name="openai", engine="openai", model="gpt-4o", quality=0.9, max_context=128000,
                        api_key_env="OPENAI_API_KEY")
LOCAL = ProviderConfig(name="spark", model="llama", base_url="http://spark:8000/v1", quality=0.7, max_context=8192,
                       tags=["dgx"])


@pytest.fixture
def stores(db):
    cipher = load_cipher({"TIERED_ROUTER_MASTER_KEY": generate_master_key()})
    return WorkspaceStore(db), ProviderKeyStore(db, cipher, environ={"OPENAI_API_KEY": SERVER_SECRET})


def test_a_workspace_key_is_used_for_that_workspace_only(stores):
    workspaces, keys = stores
    a = workspaces.create("a").workspace
    b = workspaces.create("b", WorkspaceSettings(allow_server_keys=False)).workspace
    c = workspaces.create("c").workspace
    keys.set_key(a.id, "openai", SECRET)

    own = keys.credential(a, OPENAI)
    assert (own.source, own.reveal()) == ("workspace", SECRET)
    with pytest.raises(PermissionDenied) as caught:
        keys.credential(b, OPENAI)  # no key of its own, server keys not allowed: never A's
    assert caught.value.code == "server_keys_not_allowed"
    server = keys.credential(c, OPENAI)
    assert (server.source, server.reveal()) == ("server", SERVER_SECRET)
    assert keys.credential(b, LOCAL).source == "none"  # a local server needs no key


def test_a_ciphertext_moved_to_another_workspace_is_refused(stores, db):
    workspaces, keys = stores
    a = workspaces.create("a").workspace
    b = workspaces.create("b").workspace
    keys.set_key(a.id, "openai", SECRET)
    keys.set_key(b.id, "openai", "sk-b")
    with db.write() as conn:
        stolen = conn.scalar(select(provider_keys.c.ciphertext).where(provider_keys.c.workspace_id == a.id))
        conn.execute(update(provider_keys).where(provider_keys.c.workspace_id == b.id).values(ciphertext=stolen))
    with pytest.raises(StorageError) as caught:
        keys.credential(b, OPENAI)
    assert caught.value.code == "provider_key_misplaced" and SECRET not in caught.value.message


def test_the_key_is_not_in_the_database_file_the_logs_or_anything_returned(stores, tmp_path, caplog):
    workspaces, keys = stores
    caplog.set_level(logging.DEBUG)
    a = workspaces.create("a").workspace
    b = workspaces.create("b", WorkspaceSettings(allow_server_keys=False)).workspace
    keys.set_key(a.id, "openai", SECRET)
    credential = keys.credential(a, OPENAI)
    returned = [credential, repr(credential), str(credential), keys.providers_with_keys(a.id), workspaces.get("a")]
    with pytest.raises(PermissionDenied) as caught:
        keys.credential(b, OPENAI)
    returned.append(caught.value.to_body())

    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert SECRET.encode() not in stored
    assert SECRET not in caplog.text
    for item in returned:
        assert SECRET not in repr(item) and SECRET not in str(item)
    with pytest.raises(TypeError):
        pickle.dumps(credential)


def test_replacing_and_deleting_a_key(stores):
    workspaces, keys = stores
    a = workspaces.create("a").workspace
    keys.set_key(a.id, "openai", "sk-old")
    keys.set_key(a.id, "openai", "sk-new")
    assert keys.credential(a, OPENAI).reveal() == "sk-new"
    assert keys.delete_key(a.id, "openai") and not keys.delete_key(a.id, "openai")
    assert keys.credential(a, OPENAI).source == "server"


def test_a_missing_server_key_is_a_clear_refusal(db):
    a = WorkspaceStore(db).create("a").workspace
    keys = ProviderKeyStore(db, Fernet(generate_master_key()), environ={})
    with pytest.raises(PermissionDenied, match=r"\$OPENAI_API_KEY is unset"):
        keys.credential(a, OPENAI)


def test_master_key_from_env_or_file_rotates_and_fails_clearly(tmp_path, db):
    old, new = generate_master_key(), generate_master_key()
    a = WorkspaceStore(db).create("a").workspace
    ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY": old})).set_key(a.id, "openai", SECRET)
    key_file = tmp_path / "master.key"
    key_file.write_text(f"{new},{old}\n")
    rotated = ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY_FILE": str(key_file)}))
    assert rotated.credential(a, OPENAI).reveal() == SECRET  # the old key still decrypts
    with pytest.raises(StorageError, match="cannot be decrypted"):
        ProviderKeyStore(db, load_cipher({"TIERED_ROUTER_MASTER_KEY": new})).credential(a, OPENAI)
    with pytest.raises(ConfigInvalid, match="TIERED_ROUTER_MASTER_KEY"):
        load_cipher({})
    with pytest.raises(ConfigInvalid) as caught:
        load_cipher({"TIERED_ROUTER_MASTER_KEY": "not-a-fernet-key"})
    assert "not-a-fernet-key" not in caught.value.message
