"""Workspaces: API keys authenticate only their workspace, are stored hashed, and tier wishes stay in bounds."""

import logging
from decimal import Decimal

import pytest

from router.core.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from router.storage.workspaces import (
    LOCAL_WORKSPACE_ID,
    KeyHasher,
    WorkspaceSettings,
    WorkspaceStore,
    resolve_tiers,
)


@pytest.fixture
def store(db):
    return WorkspaceStore(db, KeyHasher(b"pepper"))


def test_the_key_shown_at_creation_authenticates_its_workspace_and_no_other(store):
    a = store.create("a")
    b = store.create("b")
    assert store.authenticate(f"Bearer {a.api_key.get_secret_value()}").id == a.workspace.id
    assert store.authenticate(f"bearer {b.api_key.get_secret_value()}").id == b.workspace.id
    assert a.api_key.get_secret_value() not in repr(a)  # SecretStr: shown only on purpose


def test_wrong_missing_or_malformed_keys_get_401(store):
    made = store.create("a")
    for header in ("Bearer trk_not-a-key", "Basic abc", "Bearer ", None):
        with pytest.raises(AuthenticationFailed) as caught:
            store.authenticate(header)
        assert caught.value.status_code == 401
    # The same key under another pepper (a different server) is not valid.
    other_server = WorkspaceStore(store.db, KeyHasher(b"another pepper"))
    with pytest.raises(AuthenticationFailed):
        other_server.authenticate(f"Bearer {made.api_key.get_secret_value()}")


def test_only_a_hash_of_the_key_is_stored(store, tmp_path):
    made = store.create("a")
    key = made.api_key.get_secret_value()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert key.encode() not in stored
    assert store.hasher.digest(key).encode() in stored


def test_a_rotated_key_replaces_the_old_one(store):
    made = store.create("a")
    new_key = store.rotate_key("a")
    with pytest.raises(AuthenticationFailed):
        store.authenticate(f"Bearer {made.api_key.get_secret_value()}")
    assert store.authenticate(f"Bearer {new_key.get_secret_value()}").name == "a"


def test_local_profile_runs_without_a_key_and_says_so(store, caplog):
    with caplog.at_level(logging.WARNING):
        local = store.authenticate(None, allow_local=True)
    assert local.id == LOCAL_WORKSPACE_ID and not local.has_api_key
    assert "no authentication" in caplog.text
    assert store.authenticate(None, allow_local=True).id == LOCAL_WORKSPACE_ID  # made once
    # OpenAI clients always send some key: in the local profile an unknown one runs as the local
    # workspace, and a real workspace key still selects its own workspace.
    assert store.authenticate("Bearer unused", allow_local=True).id == LOCAL_WORKSPACE_ID
    made = store.create("team")
    assert store.authenticate(f"Bearer {made.api_key.get_secret_value()}", allow_local=True).name == "team"
    with pytest.raises(AuthenticationFailed):
        store.authenticate("Bearer unused")  # with authentication on, it is refused


def test_settings_are_validated_as_a_whole(store):
    store.create("a", WorkspaceSettings(max_tier=2))
    updated = store.update_settings("a", monthly_budget_usd="12.50", preferred_providers=["spark"])
    assert updated.settings.monthly_budget_usd == Decimal("12.50")
    assert store.get("a").settings.preferred_providers == ["spark"]
    with pytest.raises(InvalidRequest, match="min_tier"):
        store.update_settings("a", min_tier=3)
    with pytest.raises(InvalidRequest, match="unknown_setting"):
        store.update_settings("a", unknown_setting=1)
    with pytest.raises(NotFound):
        store.get("nobody")
    with pytest.raises(InvalidRequest, match="already exists"):
        store.create("a")


def test_caller_tier_wishes_are_honoured_within_the_workspace_bounds():
    settings = WorkspaceSettings(min_tier=2, max_tier=3, default_tier=2)
    plan = resolve_tiers(settings)
    assert (plan.min_tier, plan.start_tier, plan.max_tier) == (2, 2, 3)
    plan = resolve_tiers(settings, requested_min=3)
    assert (plan.min_tier, plan.start_tier, plan.max_tier) == (3, 3, 3)
    plan = resolve_tiers(settings, requested_min=1, requested_max=2)
    assert (plan.min_tier, plan.max_tier) == (2, 2)
    assert any("raised to the workspace minimum 2" in r for r in plan.reasons)
    with pytest.raises(PermissionDenied) as caught:
        resolve_tiers(settings, requested_max=1)
    assert caught.value.code == "tier_not_allowed" and "2..3" in caught.value.message
    with pytest.raises(PermissionDenied):
        resolve_tiers(WorkspaceSettings(max_tier=2), requested_min=3)


def test_settings_refuse_a_default_tier_outside_the_bounds():
    with pytest.raises(ValueError, match="default_tier"):
        WorkspaceSettings(min_tier=2, default_tier=1)


async def test_async_twins_do_not_block_the_loop(store):
    made = store.create("a")
    assert (await store.aauthenticate(f"Bearer {made.api_key.get_secret_value()}")).name == "a"
    assert (await store.aupdate_settings("a", max_tier=1)).settings.max_tier == 1
