"""``tiered-router workspace create | show | set | add-key | spend``: administration from a shell.

Every subcommand takes ``--db URL`` (default ``$TIERED_ROUTER_DB``, else ~/.tiered-router/router.db).
The workspace API key is printed once, by ``create``; provider keys are read from stdin or an
environment variable, never from the command line (where ``ps`` and shell history would keep
them), and never printed.

Input is checked before the database is opened, by the same rules the admin HTTP API applies (the
store's and the ledger's): a workspace name is 1-64 ASCII letters, digits, '-', '_' or '.', starting with a
letter or digit; ``spend --month`` is ``YYYY-MM`` (01-12); a ``--set`` value is checked field by field
(numbers finite and not negative, tiers 1-3, budgets and caps at most $10**9);
``add-key`` takes only a provider named under ``frontier.providers`` of ``--config FILE`` (a router config
or a Ray Serve config), by default of the serve configs ``tiered-router serve`` would deploy. A refused
command prints one line on stderr, exits 1 and writes nothing. No message repeats a value that might be
a key: not the provider name, not ``--from-env``'s variable, not a key typed as an extra argument.
"""

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from router.admin.administration import Administration, check_provider
from router.core.config import ConfigInvalid, parse_config
from router.core.errors import InvalidRequest, NotFound, RouterError
from router.frontier.budgets import check_month
from router.storage.database import Database, database_url
from router.storage.workspaces import (
    WORKSPACE_NAME_RULE,
    KeyHasher,
    WorkspaceSettings,
    WorkspaceStore,
    check_workspace_name,
    parse_settings,
)

_LIST_FIELDS = {"preferred_providers"}
_NONE_WORDS = {"none", "null", ""}


def add_workspace_commands(subparsers: Any, default_configs: Callable[[], list[Path]] = list) -> None:
    """``default_configs``: the config files whose ``frontier.providers`` ``add-key`` checks against when it
    is given no ``--config``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None,
                        help="SQLAlchemy URL or SQLite file (default: $TIERED_ROUTER_DB, else ~/.tiered-router/router.db)")
    ws = subparsers.add_parser("workspace", help="manage workspaces: create, show, set, add-key, spend")
    sub = ws.add_subparsers(dest="workspace_command", required=True)

    create = sub.add_parser("create", parents=[common], help="create a workspace and print its API key once")
    create.add_argument("name", help=f"the workspace's name: {WORKSPACE_NAME_RULE}")
    create.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                        help="an initial setting, e.g. monthly_budget_usd=25 (repeatable)")
    create.set_defaults(func=run_workspace_command, handler=_create, check=_check_create)

    show = sub.add_parser("show", parents=[common], help="a workspace's settings and which provider keys it has")
    show.add_argument("workspace", help="id or name")
    show.set_defaults(func=run_workspace_command, handler=_show)

    set_ = sub.add_parser("set", parents=[common], help="change settings: FIELD=VALUE ...")
    set_.add_argument("workspace", help="id or name")
    set_.add_argument("assignments", nargs="+", metavar="FIELD=VALUE",
                      help=f"fields: {', '.join(WorkspaceSettings.model_fields)}; lists comma-separated; none clears")
    set_.set_defaults(func=run_workspace_command, handler=_set, check=_check_set)

    add_key = sub.add_parser("add-key", parents=[common],
                             help="store the workspace's own key for a provider (read from stdin, or --from-env)")
    add_key.add_argument("workspace", help="id or name")
    add_key.add_argument("provider", help="the provider's name in frontier.providers")
    add_key.add_argument("--from-env", metavar="VAR", help="read the key from this environment variable")
    add_key.add_argument("--config", metavar="FILE",
                         help="the router config or Ray Serve config whose frontier.providers name the providers "
                              "(default: the serve configs `tiered-router serve` deploys)")
    # A key typed after the provider lands here, to be refused without argparse echoing it.
    add_key.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    add_key.set_defaults(func=run_workspace_command, handler=_add_key, check=_check_add_key,
                         default_configs=default_configs)

    spend = sub.add_parser("spend", parents=[common], help="spend, reservations and budget for a month")
    spend.add_argument("workspace", help="id or name")
    spend.add_argument("--month", help="YYYY-MM in UTC (default: this month)")
    spend.set_defaults(func=run_workspace_command, handler=_spend, check=_check_spend)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for item in assignments:
        field, sep, value = item.partition("=")
        field = field.strip().replace("-", "_")
        if not sep or field not in WorkspaceSettings.model_fields:
            raise InvalidRequest(f"expected FIELD=VALUE with FIELD one of {', '.join(WorkspaceSettings.model_fields)};"
                                 f" got {item!r}")
        value = value.strip()
        if field in _LIST_FIELDS:
            changes[field] = [v.strip() for v in value.split(",") if v.strip()]
        elif value.lower() in _NONE_WORDS:
            changes[field] = None
        else:
            changes[field] = value
    return changes


def configured_providers(paths: list[Path]) -> list[str]:
    """The provider names under ``frontier.providers`` in these router or Ray Serve config files."""
    names: set[str] = set()
    for path in paths:
        for config in _router_configs(path):
            names.update(p.name for p in parse_config(config, source=str(path)).frontier.providers)
    return sorted(names)


def _router_configs(path: Path) -> list[dict[str, Any]]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc.strerror or exc}", code="config_unreadable") from None
    except yaml.YAMLError:
        raise ConfigInvalid(f"{path} is not valid YAML", code="config_invalid") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("applications"), list):
        return [raw or {}]  # a router config, checked by parse_config
    # A Ray Serve config: the router config is each deployment's user_config (one YAML anchor, usually),
    # or an application's args.router_config.
    found: dict[int, dict[str, Any]] = {}
    for app in raw["applications"]:
        if not isinstance(app, dict):
            continue
        args = app.get("args")
        candidates = [args.get("router_config")] if isinstance(args, dict) else []
        candidates += [d.get("user_config") for d in app.get("deployments") or [] if isinstance(d, dict)]
        for candidate in candidates:
            if isinstance(candidate, dict) and candidate:
                found.setdefault(id(candidate), candidate)
    return list(found.values())


def _check_create(args: argparse.Namespace) -> None:
    check_workspace_name(args.name)
    parse_settings(parse_assignments(args.assignments))


def _check_set(args: argparse.Namespace) -> None:
    # Each value on its own; how they combine with the stored settings is checked by the store.
    for field, value in parse_assignments(args.assignments).items():
        parse_settings({field: value})


def _check_add_key(args: argparse.Namespace) -> None:
    if args.stray:
        raise InvalidRequest("add-key takes WORKSPACE PROVIDER and reads the key from stdin or from --from-env "
                             "VAR, never from the command line; nothing was stored (a key typed there is in your "
                             "shell history now: rotate it)", code="key_on_command_line")
    paths = [Path(args.config)] if args.config else args.default_configs()
    if not paths:
        raise ConfigInvalid("no config to read frontier.providers from; pass --config FILE (a router config "
                            "or a Ray Serve config)", code="config_missing")
    args.providers = configured_providers(paths)
    check_provider(args.provider, args.providers)


def _check_spend(args: argparse.Namespace) -> None:
    if args.month is not None:
        check_month(args.month)


def _store(args: argparse.Namespace) -> WorkspaceStore:
    return WorkspaceStore(Database(database_url(args.db)), KeyHasher.from_env())


def _create(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    made = admin.create(args.name, parse_assignments(args.assignments))
    print(f"workspace {made['name']} created (id {made['id']})", file=out)
    print(f"API key (shown once; store it now): {made['api_key']}", file=out)


def _show(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    print(json.dumps(admin.show(args.workspace), indent=2), file=out)


def _set(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    print(json.dumps(admin.update(args.workspace, parse_assignments(args.assignments))["settings"], indent=2),
          file=out)


def _add_key(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    try:
        workspace = admin.store.get(args.workspace)
    except NotFound:  # not "no workspace 'sk-...'": the key may have been typed in the workspace's place
        raise NotFound("no such workspace: add-key's first argument is the workspace's id or name",
                       code="workspace_not_found") from None
    if args.from_env:
        secret = os.environ.get(args.from_env, "")
        if not secret.strip():
            raise InvalidRequest("the environment variable named by --from-env is empty or unset",
                                 code="provider_key_empty")
    elif sys.stdin.isatty():
        secret = getpass.getpass(f"{args.provider} key for {workspace.name}: ")
    else:
        secret = sys.stdin.readline()
    admin.add_key(workspace.id, args.provider, secret)
    print(f"stored an encrypted {args.provider} key for workspace {workspace.name}", file=out)


def _spend(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    print(json.dumps(admin.spend(args.workspace, args.month), indent=2), file=out)


def run_workspace_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run a parsed ``workspace`` subcommand; a router error becomes one line on stderr and exit status 1.

    The subcommand's input is checked first, so a refused command does not open (or create) the database.
    """
    store: WorkspaceStore | None = None
    try:
        if getattr(args, "check", None) is not None:
            args.check(args)
        store = _store(args)
        args.handler(args, Administration(store, getattr(args, "providers", None)), out or sys.stdout)
    except RouterError as exc:
        print(f"tiered-router: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.db.close()
    return 0
