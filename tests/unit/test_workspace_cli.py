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


# ---- refused input: a clear line on stderr, status 1, nothing written ---------------------------------------

KEY_LIKE = "sk-proj-typed-in-the-wrong-place-0123456789"


def rows_in(db, table):
    from sqlalchemy import select

    from router.storage import schema

    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(getattr(schema, table)))]


def rows(db_url, table):
    db = Database(db_url)
    try:
        return rows_in(db, table)
    finally:
        db.close()


def write_router_config(tmp_path, *names, serve=False):
    import yaml

    from tests.configs import provider, router_config

    config = router_config(providers=[provider(n, "http://127.0.0.1:9/v1") for n in names])
    if serve:  # a Ray Serve config: the router config is the deployments' user_config
        config = {"applications": [{"name": "r", "import_path": "deployments.app:build_app", "deployments": [
            {"name": "RouterIngress", "user_config": config}, {"name": "frontier", "user_config": config}]}]}
    path = tmp_path / ("serve.yaml" if serve else "router.yaml")
    path.write_text(yaml.safe_dump(config))
    return str(path)


def assert_refused(status, out, err, *fragments):
    assert status == 1, (out, err)
    assert out == "" and err.startswith("tiered-router: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err


@pytest.mark.parametrize("month", ["banana", "2026-13", "2026-00", "2026-1", "26-01", "2026/01", "2026-01-01",
                                   "2026-01 ", " 2026-01", "2026-01\n", "", "２０２６-01", "-2026-01"])
def test_spend_refuses_a_month_that_is_not_yyyy_mm(env, capsys, month):
    run(capsys, "workspace", "create", "acme", "--set", "monthly_budget_usd=5")
    status, out, err = run(capsys, "workspace", "spend", "acme", f"--month={month}")
    assert_refused(status, out, err, "month must be YYYY-MM with MM 01-12", repr(month))
    assert rows(env, "budget_months") == []


@pytest.mark.parametrize("month", ["2026-01", "2026-12", "1999-10"])
def test_spend_takes_a_real_month(env, capsys, month):
    run(capsys, "workspace", "create", "acme")
    status, out, _ = run(capsys, "workspace", "spend", "acme", "--month", month)
    assert status == 0 and json.loads(out)["month"] == month


def test_a_long_bad_month_is_shown_cut_short(env, capsys):
    for month, shown in [("x" * 32, repr("x" * 32)), ("y" * 33, repr("y" * 32 + "..."))]:
        status, out, err = run(capsys, "workspace", "spend", "acme", "--month", month)
        assert_refused(status, out, err)
        assert err.endswith(f"got {shown}\n")


def test_a_bad_month_is_refused_before_the_database_is_opened(env, capsys, tmp_path):
    status, out, err = run(capsys, "workspace", "spend", "nobody", "--month", "banana")
    assert_refused(status, out, err, "month must be YYYY-MM")
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize("name", ["", " ", "a b", " acme", "acme ", "acme\n", "tab\there", "nul\x00", "bell\x07",
                                  ".hidden", "_under", "a/b", "a;rm -rf", "caf\u00e9", "x" * 65, "emoji\U0001f600",
                                  "quote'", "per%cent"])
def test_create_refuses_a_name_outside_the_rule(env, capsys, tmp_path, name):
    status, out, err = run(capsys, "workspace", "create", "--", name)
    assert_refused(status, out, err, "a workspace name is 1-64 characters: ASCII letters, digits, '-', '_' or '.', "
                                     "starting with a letter or digit")
    assert not (tmp_path / "ledger.db").exists()  # refused before the database was opened


def test_the_store_applies_the_name_rule_itself(db):
    from router.core.errors import InvalidRequest

    for name in ["a b", "-x", "x" * 65, ""]:
        with pytest.raises(InvalidRequest) as refused:
            WorkspaceStore(db).create(name)
        assert refused.value.code == "invalid_workspace_name" and refused.value.status_code == 400
    assert rows_in(db, "workspaces") == []


@pytest.mark.parametrize(("name", "problem"), [
    ("", "the workspace name is empty; "),
    ("x" * 65, "the workspace name is 65 characters long; "),
    ("a b", "invalid workspace name 'a b'; "),
    ("\x1b[31mred", "invalid workspace name '\\x1b[31mred'; "),  # a control character is shown escaped
    ("-" * 32, f"invalid workspace name '{'-' * 32}'; "),
    ("-" * 33, f"invalid workspace name '{'-' * 32}...'; "),
])
def test_the_name_refusal_says_what_is_wrong(env, capsys, name, problem):
    status, out, err = run(capsys, "workspace", "create", "--", name)
    assert_refused(status, out, err)
    assert err.startswith(f"tiered-router: {problem}a workspace name is ")


def test_a_name_that_is_not_a_string_is_refused_not_crashed_on(db):
    from router.admin.administration import Administration
    from router.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="a workspace name must be a string, not int"):
        Administration(WorkspaceStore(db)).create(7)
    assert rows_in(db, "workspaces") == []


@pytest.mark.parametrize("name", ["a", "Z", "9lives", "team-a", "team_a", "team.a", "A-b_c.9", "x" * 64])
def test_create_accepts_a_name_inside_the_rule(env, capsys, name):
    status, out, _ = run(capsys, "workspace", "create", name)
    assert status == 0 and f"workspace {name} created" in out
    assert [r["name"] for r in rows(env, "workspaces")] == [name]


def test_a_name_may_not_be_another_workspaces_id(env, capsys):
    run(capsys, "workspace", "create", "acme")
    taken = rows(env, "workspaces")[0]["id"]
    status, out, err = run(capsys, "workspace", "create", taken)
    assert_refused(status, out, err, "already exists")
    assert len(rows(env, "workspaces")) == 1


BAD_MONEY = ["-1", "-0.01", "nan", "NaN", "sNaN", "inf", "-Infinity", "1e999", "1000000000.01", "abc", "0x10",
             "1,5", "$5", "five"]
BAD_TIERS = ["-1", "0", "4", "nan", "inf", "2.5", "abc", "true", "1e999"]
BAD_NUMBERS = ([(f, v) for f in ("monthly_budget_usd", "max_cost_per_request_usd") for v in BAD_MONEY]
               + [(f, v) for f in ("min_tier", "max_tier", "default_tier") for v in BAD_TIERS])


@pytest.mark.parametrize(("field", "value"), BAD_NUMBERS)
def test_create_refuses_a_bad_number(env, capsys, tmp_path, field, value):
    status, out, err = run(capsys, "workspace", "create", "acme", "--set", f"{field}={value}")
    assert_refused(status, out, err, f"invalid workspace settings: {field}: ")
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize(("field", "value"), BAD_NUMBERS)
def test_set_refuses_a_bad_number_and_keeps_the_settings(env, capsys, field, value):
    run(capsys, "workspace", "create", "acme", "--set", "monthly_budget_usd=25")
    before = rows(env, "workspaces")
    status, out, err = run(capsys, "workspace", "set", "acme", f"{field}={value}")
    assert_refused(status, out, err, f"invalid workspace settings: {field}: ")
    assert rows(env, "workspaces") == before


def test_money_at_the_limits(env, capsys):
    run(capsys, "workspace", "create", "acme")
    status, out, _ = run(capsys, "workspace", "set", "acme", "monthly_budget_usd=1000000000",
                         "max_cost_per_request_usd=-0")
    assert status == 0
    assert json.loads(out)["monthly_budget_usd"] == "1000000000" and json.loads(out)["max_cost_per_request_usd"] == "0"


def test_add_key_refuses_a_provider_not_in_the_config(env, capsys, monkeypatch, tmp_path):
    run(capsys, "workspace", "create", "acme")
    config = write_router_config(tmp_path, "cloud", "local-gpu")
    status, out, err = run(capsys, "workspace", "add-key", "acme", "openai", "--config", config,
                           stdin=PROVIDER_SECRET + "\n", monkeypatch=monkeypatch)
    assert_refused(status, out, err, "unknown provider", "known providers: cloud, local-gpu")
    assert PROVIDER_SECRET not in err and rows(env, "provider_keys") == []
    assert "'openai'" not in err  # the name given is never repeated: it might be a key

    status, out, _ = run(capsys, "workspace", "add-key", "acme", "cloud", "--config", config,
                         stdin=PROVIDER_SECRET + "\n", monkeypatch=monkeypatch)
    assert status == 0 and [r["provider"] for r in rows(env, "provider_keys")] == ["cloud"]


def test_add_key_reads_the_providers_of_a_ray_serve_config(env, capsys, monkeypatch, tmp_path):
    run(capsys, "workspace", "create", "acme")
    config = write_router_config(tmp_path, "anthropic", "spark", serve=True)
    status, out, err = run(capsys, "workspace", "add-key", "acme", "openai", "--config", config,
                           stdin="sk-x\n", monkeypatch=monkeypatch)
    assert_refused(status, out, err, "known providers: anthropic, spark")
    status, _, _ = run(capsys, "workspace", "add-key", "acme", "spark", "--config", config, stdin="sk-x\n",
                       monkeypatch=monkeypatch)
    assert status == 0


def test_add_key_by_default_knows_the_serve_configs_providers(env, capsys, monkeypatch):
    run(capsys, "workspace", "create", "acme")
    status, out, err = run(capsys, "workspace", "add-key", "acme", "nosuch", stdin="sk-x\n", monkeypatch=monkeypatch)
    assert_refused(status, out, err, "unknown provider", "openai")  # serve_config(.local).yaml's providers
    assert rows(env, "provider_keys") == []


def test_add_key_without_any_config_says_to_pass_one(env, capsys, monkeypatch):
    run(capsys, "workspace", "create", "acme")
    monkeypatch.setattr("deployments.cli.serve_configs", list)
    status, out, err = run(capsys, "workspace", "add-key", "acme", "openai", stdin="sk-x\n", monkeypatch=monkeypatch)
    assert_refused(status, out, err, "pass --config FILE")
    assert rows(env, "provider_keys") == []


@pytest.mark.parametrize("content", [None, "not: [valid", "frontier: {providers: [{name: x}]}"])
def test_add_key_with_a_bad_config_file_is_refused(env, capsys, monkeypatch, tmp_path, content):
    run(capsys, "workspace", "create", "acme")
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    status, out, err = run(capsys, "workspace", "add-key", "acme", "openai", "--config", str(path), stdin="sk-x\n",
                           monkeypatch=monkeypatch)
    assert status == 1 and out == "" and str(path) in err and "sk-x" not in err
    assert rows(env, "provider_keys") == []


def test_no_refusal_of_add_key_repeats_a_key(env, capsys, monkeypatch, tmp_path):
    run(capsys, "workspace", "create", "acme")
    config = write_router_config(tmp_path, "cloud")
    monkeypatch.setenv("EMPTY_VAR", "")
    attempts = [
        ("acme", "cloud", KEY_LIKE),  # the key typed after the provider
        ("acme", KEY_LIKE),  # the key typed in the provider's place
        (KEY_LIKE, "cloud"),  # ... or in the workspace's
        ("acme", "cloud", "--from-env", KEY_LIKE),  # ... or as the variable's name
        ("acme", "cloud", "--from-env", "EMPTY_VAR", KEY_LIKE),
    ]
    for attempt in attempts:
        status, out, err = run(capsys, "workspace", "add-key", *attempt, "--config", config, stdin="\n",
                               monkeypatch=monkeypatch)
        assert status == 1 and KEY_LIKE not in out + err, (attempt, err)
        assert err.startswith("tiered-router: ")
    assert rows(env, "provider_keys") == []


def test_a_key_on_the_command_line_is_refused_not_stored(env, capsys, monkeypatch, tmp_path):
    run(capsys, "workspace", "create", "acme")
    status, out, err = run(capsys, "workspace", "add-key", "acme", "cloud", KEY_LIKE, "--config",
                           write_router_config(tmp_path, "cloud"), stdin=PROVIDER_SECRET + "\n",
                           monkeypatch=monkeypatch)
    assert_refused(status, out, err, "never from the command line", "nothing was stored")
    assert rows(env, "provider_keys") == []


# ---- the admin HTTP API goes through the same rules (AccessLayer, no Ray) -----------------------------------

@pytest.fixture
def access(env, monkeypatch):
    from deployments.access import AccessLayer
    from router.core.config import AccessConfig

    monkeypatch.setenv("TIERED_ROUTER_ADMIN_KEY", "admin-key")
    layer = AccessLayer(AccessConfig(database_url=env), providers=["cloud"])
    yield layer
    layer.close()


async def refused_over_http(access, operation, *args):
    from router.core.errors import RouterError

    with pytest.raises(RouterError) as refused:
        await access.administer("Bearer admin-key", operation, *args)
    return refused.value


async def test_admin_api_refuses_a_bad_name_with_the_clis_message(access, capsys):
    error = await refused_over_http(access, "create", "a b", {})
    status, _, err = run(capsys, "workspace", "create", "a b")
    assert status == 1 and error.status_code == 400 and err.strip() == f"tiered-router: {error.message}"
    body = error.to_body()["error"]
    assert body["type"] == "invalid_request_error" and body["code"] == "invalid_workspace_name"
    assert body["param"] == "name"
    assert rows_in(access.db, "workspaces") == []


async def test_admin_api_refuses_bad_settings_months_and_providers_with_a_400(access):
    made = await access.administer("Bearer admin-key", "create", "acme", {})
    for settings in [{"monthly_budget_usd": -1}, {"monthly_budget_usd": float("nan")},
                     {"max_cost_per_request_usd": float("inf")}, {"max_tier": True}, {"min_tier": "x"},
                     ["monthly_budget_usd", 1], "monthly_budget_usd=1", {"monthly_budget_usd": 1e30},
                     {"ref": "x"}, {"self": 1}]:
        for operation, args in (("create", ("other", settings)), ("update", (made["id"], settings))):
            error = await refused_over_http(access, operation, *args)
            assert error.status_code == 400 and error.to_body()["error"]["type"] == "invalid_request_error"
    error = await refused_over_http(access, "spend", made["id"], "banana")
    assert error.status_code == 400 and error.code == "invalid_month"
    error = await refused_over_http(access, "add_key", made["id"], "openai", PROVIDER_SECRET)
    assert error.status_code == 400 and error.code == "unknown_provider"
    assert "known providers: cloud" in error.message and "openai" not in error.message
    assert PROVIDER_SECRET not in error.message
    assert [r["name"] for r in rows_in(access.db, "workspaces")] == ["acme"]
    assert rows_in(access.db, "provider_keys") == []
    access.set_providers(["cloud", "openai"])  # a hot reload's providers
    assert (await access.administer("Bearer admin-key", "add_key", made["id"], "openai", PROVIDER_SECRET))["stored"]
