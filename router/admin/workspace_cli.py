"""``tiered-router workspace create | show | set | add-key | spend``: administration from a shell.

Every subcommand takes ``--db URL`` (default ``$TIERED_ROUTER_DB``, else ~/.tiered-router/router.db).
The workspace API key is printed once, by ``create``; provider keys are read from stdin or an
environment variable, never from the command line (where ``ps`` and shell history would keep
them), and never printed.
"""

import argparse
import getpass
import json
import os
import sys
from typing import Any, TextIO

from router.admin.administration import Administration
from router.core.errors import InvalidRequest, RouterError
from router.storage.database import Database, database_url
from router.storage.workspaces import KeyHasher, WorkspaceSettings, WorkspaceStore

_LIST_FIELDS = {"preferred_providers"}
_NONE_WORDS = {"none", "null", ""}


def add_workspace_commands(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=None,
                        help="SQLAlchemy URL or SQLite file (default: $TIERED_ROUTER_DB, else ~/.tiered-router/router.db)")
    ws = subparsers.add_parser("workspace", help="manage workspaces: create, show, set, add-key, spend")
    sub = ws.add_subparsers(dest="workspace_command", required=True)

    create = sub.add_parser("create", parents=[common], help="create a workspace and print its API key once")
    create.add_argument("name")
    create.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                        help="an initial setting, e.g. monthly_budget_usd=25 (repeatable)")
    create.set_defaults(func=run_workspace_command, handler=_create)

    show = sub.add_parser("show", parents=[common], help="a workspace's settings and which provider keys it has")
    show.add_argument("workspace", help="id or name")
    show.set_defaults(func=run_workspace_command, handler=_show)

    set_ = sub.add_parser("set", parents=[common], help="change settings: FIELD=VALUE ...")
    set_.add_argument("workspace", help="id or name")
    set_.add_argument("assignments", nargs="+", metavar="FIELD=VALUE",
                      help=f"fields: {', '.join(WorkspaceSettings.model_fields)}; lists comma-separated; none clears")
    set_.set_defaults(func=run_workspace_command, handler=_set)

    add_key = sub.add_parser("add-key", parents=[common],
                             help="store the workspace's own key for a provider (read from stdin, or --from-env)")
    add_key.add_argument("workspace", help="id or name")
    add_key.add_argument("provider", help="the provider's name in frontier.providers")
    add_key.add_argument("--from-env", metavar="VAR", help="read the key from this environment variable")
    add_key.set_defaults(func=run_workspace_command, handler=_add_key)

    spend = sub.add_parser("spend", parents=[common], help="spend, reservations and budget for a month")
    spend.add_argument("workspace", help="id or name")
    spend.add_argument("--month", help="YYYY-MM in UTC (default: this month)")
    spend.set_defaults(func=run_workspace_command, handler=_spend)


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
    workspace = admin.store.get(args.workspace)
    if args.from_env:
        secret = os.environ.get(args.from_env, "")
        if not secret:
            raise InvalidRequest(f"${args.from_env} is empty or unset")
    elif sys.stdin.isatty():
        secret = getpass.getpass(f"{args.provider} key for {workspace.name}: ")
    else:
        secret = sys.stdin.readline()
    admin.add_key(workspace.id, args.provider, secret)
    print(f"stored an encrypted {args.provider} key for workspace {workspace.name}", file=out)


def _spend(args: argparse.Namespace, admin: Administration, out: TextIO) -> None:
    print(json.dumps(admin.spend(args.workspace, args.month), indent=2), file=out)


def run_workspace_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run a parsed ``workspace`` subcommand; a router error becomes one line on stderr and exit status 1."""
    store: WorkspaceStore | None = None
    try:
        store = _store(args)
        args.handler(args, Administration(store), out or sys.stdout)
    except RouterError as exc:
        print(f"tiered-router: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.db.close()
    return 0
