"""``tiered-router tune``: over- and under-escalation, cost and latency per provider, and suggested thresholds
with their evidence, from the routing telemetry and the callers' feedback.

    tiered-router tune [--json] [--since 7d] [--until T] [--workspace NAME_OR_ID] [--db URL_OR_PATH]
                       [--config ROUTER_CONFIG_YAML] [--apply OUT.yaml] [--target-bad-rate 0.1]

``--apply OUT.yaml`` writes the router config with the suggested thresholds (the whole ``--config`` document,
or only the changed keys without one) to OUT.yaml for review; it never writes ``--config`` itself and never
touches a running deployment. When the refit of the escalation score raised held-out APGR, it is written as
``cascade.recalibration`` (and the ``cascade.threshold`` suggestion, swept on the old scale, is then held back).
"""

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_SINCE = "7d"


def add_tune_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("tune", help="suggest thresholds from the routing telemetry and feedback",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--since", default=DEFAULT_SINCE,
                        help=f"start of the window: ISO 8601 or a span back from now such as 6h, 7d (default {DEFAULT_SINCE})")
    parser.add_argument("--until", help="end of the window (default: now)")
    parser.add_argument("--workspace", help="one workspace, by name or id (default: all)")
    parser.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: $TIERED_ROUTER_DB, else ~/.tiered-router/router.db)")
    parser.add_argument("--config", type=Path, help="the router config YAML the traffic ran under (default: the schema's defaults)")
    parser.add_argument("--apply", type=Path, metavar="OUT.yaml", help="write the config with the suggested thresholds here")
    parser.add_argument("--target-bad-rate", type=float, default=None,
                        help="local bad-feedback rate the suggestions keep under (default 0.10)")
    parser.set_defaults(func=cmd_tune)
    return parser


class _Refused(Exception):
    """A user error: one line on stderr, exit 2."""


def cmd_tune(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from router.core.errors import RouterError

    try:
        return _tune(args)
    except RouterError as exc:
        return _fail(exc.message)
    except (_Refused, OSError) as exc:
        return _fail(str(exc))
    except SQLAlchemyError as exc:
        return _fail(f"cannot read the database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")


def _fail(message: str) -> int:
    print(f"tiered-router tune: {message}", file=sys.stderr)
    return 2


def _tune(args: argparse.Namespace) -> int:
    import yaml

    from router.core.config import RouterConfig, load_config, parse_config
    from router.storage.database import utc_now
    from router.telemetry.stats import parse_time
    from router.tuning import apply
    from router.tuning.render import format_report
    from router.tuning.report import DEFAULT_TARGET, build_report

    target = DEFAULT_TARGET if args.target_bad_rate is None else args.target_bad_rate
    if not 0.0 <= target <= 1.0:
        raise _Refused(f"--target-bad-rate must lie in [0, 1], got {target:g}")
    if args.apply is not None and args.config is not None and _same_file(args.apply, args.config):
        raise _Refused(f"--apply {args.apply} is the --config file itself; write the suggestions elsewhere and review them")
    now = utc_now()
    until = parse_time(args.until, now=now, name="until") or now
    since = parse_time(args.since, now=now, name="since") or until
    if since >= until:
        raise _Refused(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    config = load_config(args.config) if args.config else RouterConfig()

    records, feedback, workspace_id = _read(args.db, args.workspace, since, until)
    report = build_report(records, feedback, config, since=since, until=until, workspace_id=workspace_id,
                          target=target)
    print(report.model_dump_json(indent=2) if args.json else format_report(report))

    if args.apply is not None:
        source = yaml.safe_load(args.config.read_text()) if args.config else None
        document, changes = apply.with_suggestions(source, report)
        parse_config(document, source=str(args.apply))  # what we write must load
        args.apply.write_text(apply.render(document, report, str(args.config) if args.config else None))
        out = sys.stderr if args.json else sys.stdout  # keep --json output parseable
        print(f"\nwrote {args.apply} (review it; nothing running was changed):", file=out)
        for line in apply.summary(changes):
            print(f"  {line}", file=out)
    return 0


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def _read(db_ref: str | None, workspace: str | None, since: Any, until: Any) -> tuple[list[Any], list[Any], str | None]:
    from sqlalchemy.engine import make_url

    from router.storage.database import Database, database_url
    from router.storage.schema import MIGRATIONS
    from router.storage.telemetry import TelemetryStore
    from router.storage.workspaces import KeyHasher, WorkspaceStore

    url = database_url(db_ref)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).is_file():
        raise _Refused(f"no database at {parsed.database}")
    # Read only: no migration (a report must not change the schema of the database it reads).
    db = Database(url, migrate=False)
    try:
        needed = max(m.version for m in MIGRATIONS)
        if db.schema_version() < needed:
            raise _Refused(f"the database at {db.url} has schema version {db.schema_version()}, older than this "
                           f"router's {needed}; start the router on it once to migrate it")
        workspace_id = WorkspaceStore(db, KeyHasher.from_env()).get(workspace).id if workspace else None
        store = TelemetryStore(db)
        return (store.decisions(workspace_id=workspace_id, since=since, until=until),
                store.feedback(workspace_id=workspace_id), workspace_id)
    finally:
        db.close()
