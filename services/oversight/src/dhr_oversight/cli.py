"""`dhr`: the one command for people — developers, operators and oversight bodies:

  dhr run                                            the whole system with a sample review
                                                     (`make run`; development tools only)
  dhr history REVIEW_ID [--json] [--show-personal]   a review's history, from Kafka alone
  dhr rebuild                                        the ledger rebuilt from the topics
  dhr check [--service NAME]... [--review ID] [--json]
                                                     stores against topics against the ledger
  dhr export (--review ID | --area AREA | --all) [--since SIZE_OR_FILE] --out DIR
  dhr verify DIR [--keys FILE]                       verify a bundle; exit 1 when it fails
  dhr statistics [--area AREA] [--format json|csv]   statutory timeliness
  dhr keygen                                         a new signing key seed (base64)
  dhr import DIR ...                                 historic reviews of the DHRD (alias
                                                     import-dhrd; see dhr_oversight.dhrd)
  dhr token --role ROLE --org ORG [--sub ID] [--ttl 8h]
                                                     a bearer token of the local development
                                                     issuer (`make run` creates it)

Configuration comes from the same `DHR_*` variables as the service (DHR_KAFKA_BOOTSTRAP,
DHR_DATABASE_URL, DHR_OVERSIGHT_*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import asyncpg
from aiokafka.errors import KafkaError

from dhr_oversight import check, history, rebuild, statistics, storage
from dhr_oversight.bundle import BundleError, write_bundle
from dhr_oversight.checkpoints import Checkpointer, LedgerTree
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import SigningKeyError, generate_seed, load_signing_keys
from dhr_oversight.ledger import NoteError, open_checkpoint
from dhr_platform.consistency_sources import SourceError
from dhr_platform.database import (
    Connection,
    DatabaseAccessError,
    DatabaseConnection,
    create_pool,
    migrate,
    platform_migrations,
)
from dhr_platform.dev_issuer import DevelopmentIssuer, default_directory, parse_duration
from dhr_platform.kafka import KafkaAccessError, KafkaConnection
from dhr_platform.principal import Role

SCHEMA = "oversight"


class CommandError(Exception):
    """A failure to report in one line, with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dhr", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The DHR platform's command for people: run the system, mint development "
        "tokens, read a review's history, export and verify audit bundles, import historic "
        "reviews, rebuild the oversight ledger.",
        epilog="""first steps:
  dhr run                                  start everything; it prints a review id and a token
  dhr history REVIEW_ID                    that review's history across the services
  dhr export --review REVIEW_ID --out B    its audit bundle (events, checkpoint, proofs, keys)
  dhr verify B                             check the bundle as an oversight body would
  dhr token --role review_manager --org Norfolk
                                           a token for the services' APIs (/docs on each)

The commands read the same DHR_* variables as the services (DHR_KAFKA_BOOTSTRAP,
DHR_DATABASE_URL, ...); their defaults are those of `dhr run`. `dhr COMMAND --help` tells more.""")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the whole system locally with a sample review (as "
                        "`make run`): Kafka, PostgreSQL, every service")

    show = commands.add_parser("history", help="a review's complete history, rebuilt from Kafka")
    show.add_argument("review_id")
    show.add_argument("--json", action="store_true", help="JSON instead of a timeline")
    show.add_argument("--show-personal", action="store_true",
                      help="show personal fields as stored, sealed with the review's key "
                      "(hidden as [personal] by default)")

    commands.add_parser("rebuild", help="rebuild the ledger from the topics, from offset 0")

    consistency = commands.add_parser(
        "check", help="compare every service's event store with its topic and the ledger: "
        "events lost, duplicated or out of order, per review")
    consistency.add_argument("--service", action="append", default=[], metavar="NAME",
                             help="a service whose store to check (repeatable; by default "
                             "every service whose topic the ledger consumes)")
    consistency.add_argument("--review", metavar="ID", help="only this review")
    consistency.add_argument("--json", action="store_true", help="JSON instead of text")

    export = commands.add_parser("export", help="write an audit-export bundle")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--review", metavar="ID")
    which.add_argument("--area", metavar="AREA", help="a Community Safety Partnership area")
    which.add_argument("--all", action="store_true", help="the whole ledger")
    export.add_argument("--since", metavar="CHECKPOINT",
                        help="an earlier checkpoint (its tree size, or a file holding the signed "
                        "note): the bundle proves the ledger only grew since")
    export.add_argument("--out", required=True, type=Path, metavar="DIR")

    verify = commands.add_parser("verify", help="verify an audit-export bundle")
    verify.add_argument("directory", type=Path)
    verify.add_argument("--keys", type=Path, metavar="FILE",
                        help="verifier keys obtained independently (GET /keys), one a line; "
                        "without it the bundle's own keys prove integrity but not who signed")

    stats = commands.add_parser("statistics", help="statutory timeliness per area and nationally")
    stats.add_argument("--area")
    stats.add_argument("--format", choices=["json", "csv"], default="json")

    commands.add_parser("keygen", help="print a new Ed25519 signing key seed (base64)")

    token = commands.add_parser(
        "token", help="print a bearer token of the local development issuer (development only)")
    token.add_argument("--role", required=True, choices=[role.value for role in Role])
    token.add_argument("--org", help="the organisation: a CSP area for a review manager (e.g. "
                       "Norfolk), an agency's name for agency roles (e.g. 'Norfolk "
                       "Constabulary')")
    token.add_argument("--sub", help="the subject (user id); by default one made of the role "
                       "and organisation (a Chair's must be the one given at appointment)")
    token.add_argument("--ttl", default="8h", help="lifetime, e.g. 30m, 8h, 2d (default 8h)")
    token.add_argument("--issuer-dir", type=Path, default=None,
                       help="the issuer's key directory (default: <state dir>/auth, the state "
                       "dir being $DHR_STATE_DIR or .local)")
    commands.add_parser("import", aliases=["import-dhrd"], add_help=False,
                        help="import historic reviews of the DHRD (dhr import --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit code is 0 on success, 1 when a bundle does not verify, 2 on
    any other failure."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] in (["import"], ["import-dhrd"]):
        from dhr_oversight.dhrd import main_import

        return main_import(arguments[1:])
    if arguments[:1] == ["run"]:
        _parser().parse_args(arguments)  # `dhr run --help`
        return run_system()
    args = _parser().parse_args(arguments)
    try:
        return asyncio.run(run(args, sys.stdout))
    except (CommandError, SigningKeyError, BundleError, rebuild.RebuildError, KafkaAccessError,
            DatabaseAccessError) as error:
        print(f"dhr {args.command}: {error}", file=sys.stderr)
        return 2


def run_system() -> int:
    """`dhr run`: the local supervisor of `make run` (deploy/local), when it is installed."""
    try:
        from dhr_local.run import run as run_locally
    except ImportError:
        print("dhr run: the development tools are not installed here; in a checkout of the "
              "repository run `make run` (or `uv sync`, then `uv run dhr run`)", file=sys.stderr)
        return 2
    return asyncio.run(run_locally())


async def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "keygen":
        print(generate_seed(), file=out)
        return 0
    if args.command == "verify":
        return verify_command(args.directory, args.keys, out)
    if args.command == "token":
        return token_command(args, out)
    settings = OversightSettings()
    try:
        settings.refuse_development_defaults()
    except ValueError as error:
        raise CommandError(str(error)) from error
    if args.command == "history":
        events = await history.history_from_kafka(KafkaConnection.from_settings(settings),
                                                  settings.oversight_topics, args.review_id)
        if args.json:
            document = history.history_json(args.review_id, events,
                                            show_personal=args.show_personal)
            print(json.dumps(document, indent=2, ensure_ascii=False), file=out)
        else:
            out.write(history.render_timeline(args.review_id, events,
                                              show_personal=args.show_personal))
        return 0
    if args.command == "rebuild":
        result = await rebuild.rebuild_ledger(settings)
        print(f"rebuilt the ledger from {result.records} records: {result.entries} entries "
              f"({result.kept_in_recorded_order} in their recorded order, {result.newly_appended} "
              f"new), {result.duplicates} duplicates and {result.not_cloudevents} non-events "
              f"skipped; root {result.root.hex()}", file=out)
        return 0
    if args.command == "check":
        return await check_command(settings, args, out)
    if args.command == "export":
        return await export_command(settings, args, out)
    if args.command == "statistics":
        report = await statistics_report(settings, args.area)
        out.write(report.to_csv() if args.format == "csv"
                  else json.dumps(report.as_json(), indent=2) + "\n")
        return 0
    raise CommandError(f"unknown command {args.command}")


def token_command(args: argparse.Namespace, out: TextIO) -> int:
    """Mint a token with the development issuer's key, created on first use as `make run` does
    (its issuer name is refused outside development: such a token opens nothing in
    production)."""
    try:
        ttl = parse_duration(args.ttl)
        issuer = DevelopmentIssuer.load_or_create(args.issuer_dir or default_directory())
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from error
    print(issuer.mint(role=args.role, organisation=args.org, subject=args.sub, ttl=ttl), file=out)
    return 0


def verify_command(directory: Path, keys_file: Path | None, out: TextIO) -> int:
    from dhr_oversight.verify import verify_bundle

    trusted = None
    if keys_file is not None:
        try:
            trusted = [line.strip() for line in keys_file.read_text().splitlines() if line.strip()]
        except OSError as error:
            raise CommandError(f"--keys: {error}") from error
    report = verify_bundle(directory, trusted)
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.ok:
        print(f"OK: {report.checked_events} events verified against the checkpoint of tree size "
              f"{report.tree_size}", file=out)
        return 0
    print(f"FAILED: {directory} does not verify:", file=out)
    for problem in report.problems:
        print(f"  - {problem}", file=out)
    return 1


async def _pool(settings: OversightSettings) -> asyncpg.Pool:
    pool = await create_pool(DatabaseConnection.from_settings(settings), SCHEMA)
    await migrate(pool, SCHEMA, [platform_migrations(), storage.MIGRATIONS])
    return pool


async def export_command(settings: OversightSettings, args: argparse.Namespace,
                         out: TextIO) -> int:
    """Sign a checkpoint of the ledger as it stands (the existing one if it has not grown),
    then write the selection's events with proofs against it."""
    keys = load_signing_keys(settings, generate=False)
    pool = await _pool(settings)
    try:
        checkpointer = Checkpointer(LedgerTree(), keys, settings)
        checkpoint = await checkpointer.issue(pool)
        if checkpoint is None or checkpoint.size == 0:
            raise CommandError("the ledger is empty: nothing to export")
        tree = checkpointer.tree.tree
        async with pool.acquire() as connection:
            if args.review:
                entries = await storage.entries_of_review(connection, args.review)
                selection = {"review": args.review}
            elif args.area:
                entries = await storage.entries_of_area(connection, args.area)
                selection = {"area": args.area}
            else:
                entries = await storage.all_entries(connection)
                selection = {"all": "true"}
            earlier_note = await _earlier_note(connection, args.since)
        entries = [entry for entry in entries if entry.index < checkpoint.size]
        if not entries:
            raise CommandError(f"no event in the ledger for {_describe(selection)}")
        if earlier_note is not None:
            try:
                open_checkpoint(earlier_note, keys.verifiers)
            except NoteError as error:
                raise CommandError(f"--since: {error}") from error
        summary = write_bundle(
            args.out, ((entry.index, entry.leaf_data) for entry in entries), tree,
            checkpoint.note, keys.verifier_keys(), earlier_note,
            full=bool(args.all), selection=selection, manifest_signer=keys.signer,
        )
    finally:
        await pool.close()
    since = ("" if summary.earlier_tree_size is None
             else f", consistent with the checkpoint of size {summary.earlier_tree_size}")
    print(f"exported {summary.event_count} events of {_describe(selection)} to {args.out}, "
          f"proven against the checkpoint of tree size {summary.tree_size}{since}", file=out)
    return 0


def _describe(selection: dict[str, str]) -> str:
    if "review" in selection:
        return f"review {selection['review']}"
    if "area" in selection:
        return f"area {selection['area']}"
    return "the whole ledger"


async def _earlier_note(connection: Connection, since: str | None) -> str | None:
    if since is None:
        return None
    if since.isdigit():
        stored = await storage.checkpoint_of_size(connection, int(since))
        if stored is None:
            raise CommandError(f"--since: no checkpoint of size {since} was issued")
        return stored.note
    try:
        return await asyncio.to_thread(_read_text, since)
    except OSError as error:
        raise CommandError(f"--since: {error}") from error


def _read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


async def statistics_report(settings: OversightSettings,
                            area: str | None) -> statistics.TimelinessReport:
    pool = await _pool(settings)
    try:
        async with pool.acquire() as connection:
            entries = await storage.entries_of_types(
                connection, statistics.COMMISSIONING_TYPES,
                statistics.RECOMMENDATIONS_OVERDUE_PATTERN)
    finally:
        await pool.close()
    return statistics.timeliness((entry.event() for entry in entries),
                                 datetime.now(UTC).date(), area)


async def check_command(settings: OversightSettings, args: argparse.Namespace,
                        out: TextIO) -> int:
    """Exit 0 when stores, topics and ledger agree, 1 when something is lost, duplicated or out
    of order."""
    try:
        locations = check.store_locations(settings, args.service)
        report = await check.check_system(settings, locations, review_id=args.review)
    except (ValueError, SourceError, OSError, asyncpg.PostgresError, KafkaError) as error:
        raise CommandError(f"cannot check: {type(error).__name__}: {error}") from error
    if args.json:
        print(json.dumps(report.as_json(), indent=2), file=out)
    else:
        print(report.summary(), file=out)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
