"""`tiered-router workspace ...`: create prints the API key once; nothing prints a provider key."""

import io
import json

import pytest

from deployments.cli import main
from router.frontier.keys import generate_master_key
from router.storage.database import Database
from router.storage.workspaces import WorkspaceStore

PROVIDER_SECRET = "sk-cli-secret-never-printed-42"


@pytest.fixture
def env(monkeypatch, db_url):
    monkeypatch.setenv("TIERED_ROUTER_DB", db_url)
    monkeypatch.setenv("TIERED_ROUTER_MASTER_KEY", generate_master_key())
    monkeypatch.delenv("TIERED_ROUTER_KEY_PEPPER", raising=False)
    return db_url


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_create_set_add_key_show_and_spend(env, capsys, monkeypatch):
    status, out, _ = run(capsys, "workspace", "create", "acme", "--set", "monthly_budget_usd=25")
    assert status == 0
    api_key = out.split("API key (shown once; store it now): ")[1].strip()
    db = Database(env)
    assert WorkspaceStore(db).authenticate(f"Bearer {api_key}").name == "acme"
    db.close()

    status, out, _ = run(capsys, "workspace", "set", "acme", "max_tier=2", "preferred_providers=spark,premium",
                         "max_cost_per_request_usd=0.50")
    assert status == 0 and json.loads(out)["preferred_providers"] == ["spark", "premium"]

    status, out, _ = run(capsys, "workspace", "add-key", "acme", "openai", stdin=PROVIDER_SECRET + "\n",
                         monkeypatch=monkeypatch)
    assert status == 0 and PROVIDER_SECRET not in out

    status, out, _ = run(capsys, "workspace", "show", "acme")
    shown = json.loads(out)
    assert shown["provider_keys"] == ["openai"] and shown["settings"]["max_tier"] == 2
    assert api_key not in out and PROVIDER_SECRET not in out
    assert shown["api_key_hint"] == "..." + api_key[-4:]

    status, out, _ = run(capsys, "workspace", "spend", "acme", "--month", "2026-01")
    assert status == 0 and json.loads(out)["budget_usd"] == "25"


def test_add_key_from_an_environment_variable(env, capsys, monkeypatch):
    run(capsys, "workspace", "create", "acme")
    monkeypatch.setenv("ACME_OPENAI", PROVIDER_SECRET)
    status, out, err = run(capsys, "workspace", "add-key", "acme", "openai", "--from-env", "ACME_OPENAI")
    assert status == 0 and PROVIDER_SECRET not in out + err


def test_errors_are_one_line_and_a_nonzero_status(env, capsys):
    status, _, err = run(capsys, "workspace", "show", "nobody")
    assert status == 1 and err.strip() == "tiered-router: no workspace 'nobody'"
    run(capsys, "workspace", "create", "acme")
    status, _, err = run(capsys, "workspace", "set", "acme", "min_tier=9")
    assert status == 1 and "min_tier" in err
    status, _, err = run(capsys, "workspace", "set", "acme", "colour=blue")
    assert status == 1 and "FIELD=VALUE" in err


def test_add_key_without_a_master_key_says_how_to_make_one(env, capsys, monkeypatch):
    run(capsys, "workspace", "create", "acme")
    monkeypatch.delenv("TIERED_ROUTER_MASTER_KEY")
    status, _, err = run(capsys, "workspace", "add-key", "acme", "openai", stdin="sk-x\n", monkeypatch=monkeypatch)
    assert status == 1 and "TIERED_ROUTER_MASTER_KEY" in err
