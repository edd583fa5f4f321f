"""``workflow-scheduler``: the local system, local invoke, cron tools, OpenAPI, migrations, local tokens, DLQ redrive,
the adoption of legacy webhook secrets, the firing history's retention, the links of GitHub App installations to
their users.

Output for machines is JSON on stdout; errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workflow_scheduler.cli_error import CliError

if TYPE_CHECKING:
    from workflow_scheduler.adapters.postgres import Database

# Configuration comes through the settings models and AWS through the adapters (tests/unit/test_wiring.py).


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def cmd_dev(args: argparse.Namespace) -> None:
    from workflow_scheduler.local.dev import run
    from workflow_scheduler.settings import LocalSystemSettings

    defaults = LocalSystemSettings.from_environment()
    run(host=defaults.host if args.host is None else args.host, port=defaults.port if args.port is None else args.port)


def cmd_invoke(args: argparse.Namespace) -> None:
    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.local.invoke import invoke

    use_local_environment()
    try:
        with open(args.event) as handle:
            event = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise CliError(f"cannot read the event {args.event}: {exc}") from exc
    _print(invoke(args.function, event, user=args.user))


def cmd_openapi(args: argparse.Namespace) -> None:
    from workflow_scheduler.local.openapi import openapi_document

    sys.stdout.write(openapi_document() + "\n")


def cmd_migrate(args: argparse.Namespace) -> None:
    from workflow_scheduler.adapters.migrations import apply_migrations
    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.settings import MigrateSettings

    if args.database_url:
        conninfo = args.database_url
    else:
        use_local_environment()
        conninfo = MigrateSettings.from_environment().conninfo()
    _print({"applied": apply_migrations(conninfo)})


def cmd_dlq_redrive(args: argparse.Namespace) -> None:
    from workflow_scheduler.adapters.dispatch_retries import RedriveFailed, RedriveIncomplete, redrive_dead_letters
    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.settings import DeadLetterSettings

    if args.max is not None and args.max < 1:
        raise CliError("--max must be at least 1")
    use_local_environment("DISPATCH_QUEUE_URL", unless=["DISPATCH_QUEUE_URL"])
    settings = DeadLetterSettings.from_environment()
    try:
        moved = redrive_dead_letters(settings.dispatch_queue_url, settings.dispatch_dlq_url, limit=args.max)
    except (RedriveIncomplete, RedriveFailed) as exc:
        raise CliError(exc.message) from exc
    _print({"moved": moved})


def cmd_cron_translate(args: argparse.Namespace) -> None:
    from workflow_scheduler.domain.triggers.cron.errors import CronError
    from workflow_scheduler.domain.triggers.cron.translate import translate

    try:
        translation = translate(args.expression, args.timezone)
    except CronError as exc:
        raise CliError(str(exc)) from exc
    result: dict[str, Any] = {
        "schedules": [{"expression": e, "timezone": translation.timezone} for e in translation.schedules]
    }
    if translation.warnings:
        result["warnings"] = list(translation.warnings)
    _print(result)


def cmd_cron_preview(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from workflow_scheduler.domain.triggers.cron.errors import CronError
    from workflow_scheduler.domain.triggers.cron.preview import preview

    try:
        _print(preview(args.expression, args.timezone, args.count, datetime.now(UTC)).as_dict())
    except CronError as exc:
        raise CliError(str(exc)) from exc
    except ValueError as exc:  # count out of range
        raise CliError(str(exc)) from exc


def cmd_reconcile(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from workflow_scheduler.domain.errors import DomainError
    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.settings import ReconcileSettings
    from workflow_scheduler.wiring import reconciler

    use_local_environment("SCHEDULE_GROUP_NAME", unless=["SCHEDULE_GROUP_NAME"])
    try:
        report = reconciler(ReconcileSettings.from_environment()).run(dry_run=args.dry_run)
    except (ValidationError, ValueError) as exc:
        raise CliError(f"reconcile is not configured: {exc}") from exc
    except DomainError as exc:
        raise CliError(exc.message) from exc
    _print(report.as_dict())


def cmd_retention(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from workflow_scheduler.domain.errors import DomainError
    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.settings import RetentionSettings
    from workflow_scheduler.wiring import history_retention

    use_local_environment(unless=["DATABASE_URL", "DB_SECRET_ARN"])
    overrides = {} if args.days is None else {"firing_retention_days": args.days}
    try:
        retention = history_retention(RetentionSettings.model_validate(overrides))
    except ValidationError as exc:
        raise CliError(f"retention is not configured: {_reasons(exc)}") from exc
    try:
        _print(retention.run(dry_run=args.dry_run).as_dict())
    except DomainError as exc:
        raise CliError(exc.message) from exc


def _reasons(exc: Any) -> str:
    """A pydantic ValidationError's messages, without its links and input echo."""
    return "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())


def _database() -> Database:
    """The database of the deployed system the environment names (DATABASE_URL or DB_SECRET_ARN), else the running
    local system's."""
    from pydantic import ValidationError

    from workflow_scheduler.local.environment import use_local_environment
    from workflow_scheduler.settings import MigrateSettings
    from workflow_scheduler.wiring import connection_pool

    use_local_environment(unless=["DATABASE_URL", "DB_SECRET_ARN"])
    try:
        return connection_pool(MigrateSettings.from_environment())
    except ValidationError as exc:
        raise CliError(f"the database is not configured: {exc}") from exc


def cmd_secrets_adopt(args: argparse.Namespace) -> None:
    """The migrate function's one-time adoption, on demand: it ignores the record of a run (it is idempotent)."""
    from workflow_scheduler.domain.errors import DomainError
    from workflow_scheduler.wiring import legacy_secret_adoption

    database = _database()
    try:
        _print(legacy_secret_adoption(database, dry_run=args.dry_run).as_dict())
    except DomainError as exc:  # the secrets tagged so far keep their tags; run it again
        raise CliError(exc.message) from exc
    finally:
        database.close()


def _installation_id(text: str) -> int:
    """An installation id as GitHub numbers them, within what a trigger's parameters accept."""
    if not text.isdigit() or not 0 < int(text) <= 2**53 - 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a GitHub App installation id (a positive integer)")
    return int(text)


def _owner(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the owner is a user's JWT sub; it cannot be empty")
    return text


def cmd_github(args: argparse.Namespace) -> None:
    """Who may use which App installation: only its linked users deploy triggers on it and get its events."""
    from workflow_scheduler.adapters.github_store import PostgresGithubStore
    from workflow_scheduler.domain.errors import DomainError

    database = _database()
    store = PostgresGithubStore(database)
    try:
        if args.github_command == "links":
            _print({"links": [link.as_dict() for link in store.links(args.installation)]})
            return
        linking = args.github_command == "link"
        change = store.link if linking else store.unlink
        changed = change(args.installation_id, args.owner)
        _print({"installation_id": args.installation_id, "owner": args.owner, "linked": linking, "changed": changed})
    except DomainError as exc:
        raise CliError(exc.message) from exc
    finally:
        database.close()


def cmd_token(args: argparse.Namespace) -> None:
    from workflow_scheduler.local.state import mint_token

    token, expires = mint_token(args.user, args.ttl)
    if args.raw:
        sys.stdout.write(token + "\n")
    else:
        _print({"token": token, "user": args.user, "expires_at": expires})


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="workflow-scheduler", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole system on this machine")
    dev.add_argument("--host", help="default: HOST, or 127.0.0.1")
    dev.add_argument("--port", type=int, help="default: PORT, or 8003")
    dev.set_defaults(run=cmd_dev)

    invoke = sub.add_parser("invoke", help="run a function's handler in-process with the local settings")
    invoke.add_argument("function", help="a folder name under functions/ (api, migrate, ...)")
    invoke.add_argument("--event", required=True, help="a JSON event file, e.g. events/api/health.json")
    invoke.add_argument("--user", help="send a fresh local token for this user as the bearer token")
    invoke.set_defaults(run=cmd_invoke)

    sub.add_parser("openapi", help="print the OpenAPI 3.1 document of the HTTP API").set_defaults(run=cmd_openapi)

    migrate = sub.add_parser("migrate", help="apply the database migrations not applied yet")
    migrate.add_argument("--database-url", help="default: the running local system's, or DATABASE_URL")
    migrate.set_defaults(run=cmd_migrate)

    dlq = sub.add_parser("dlq", help="the dispatch queue's dead-letter queue (parked firings)")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_redrive = dlq_sub.add_parser("redrive", help="move parked firings back to the dispatch queue")
    dlq_redrive.add_argument("--max", type=int, help="move at most this many (default: all)")
    dlq_redrive.set_defaults(run=cmd_dlq_redrive)

    cron = sub.add_parser("cron", help="cron expressions: the EventBridge translation and a preview of the runs")
    cron_sub = cron.add_subparsers(dest="cron_command", required=True)
    translate = cron_sub.add_parser("translate", help="the EventBridge Scheduler schedules for a Unix cron expression")
    preview = cron_sub.add_parser("preview", help="the next runs as EventBridge will fire them, with DST warnings")
    for command in (translate, preview):
        command.add_argument("expression", help="5-field Unix cron or a macro such as @daily")
        command.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
    preview.add_argument("--count", type=int, default=10, help="how many runs (default 10)")
    translate.set_defaults(run=cmd_cron_translate)
    preview.set_defaults(run=cmd_cron_preview)

    reconcile = sub.add_parser("reconcile", help="make the schedule group match the trigger index")
    reconcile.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    reconcile.set_defaults(run=cmd_reconcile)

    retention = sub.add_parser(
        "retention", help="drop the firing history's months past the retention; create the months ahead"
    )
    retention.add_argument("--days", type=int, help="days of history kept (default: FIRING_RETENTION_DAYS, or 30)")
    retention.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    retention.set_defaults(run=cmd_retention)

    secrets = sub.add_parser("secrets", help="the webhook secrets the service manages")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    adopt = secrets_sub.add_parser(
        "adopt", help="tag the managed secrets made before owner tags with their trigger's owner (idempotent)"
    )
    adopt.add_argument("--dry-run", action="store_true", help="count what would be tagged, tag nothing")
    adopt.set_defaults(run=cmd_secrets_adopt)

    github = sub.add_parser("github", help="link GitHub App installations to the users who may use them")
    github_sub = github.add_subparsers(dest="github_command", required=True)
    link = github_sub.add_parser("link", help="let a user deploy triggers on an installation and receive its events")
    unlink = github_sub.add_parser("unlink", help="take that back: the user's triggers on it stop firing")
    for command in (link, unlink):
        command.add_argument("installation_id", type=_installation_id, help="the App installation's id")
        command.add_argument("--owner", type=_owner, required=True, help="the user: their JWT sub")
        command.set_defaults(run=cmd_github)
    links = github_sub.add_parser("links", help="the links, as JSON")
    links.add_argument("--installation", type=_installation_id, help="only this installation's")
    links.set_defaults(run=cmd_github)

    token = sub.add_parser("token", help="a bearer token the local system accepts (local signing key only)")
    token.add_argument("--user", required=True)
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--raw", action="store_true", help="print only the token")
    token.set_defaults(run=cmd_token)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as exc:
        sys.stderr.write(f"workflow-scheduler: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
