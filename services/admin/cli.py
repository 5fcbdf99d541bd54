"""gridctl: administer the platform from a shell."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import importer, reference_data, rows
from services.intake.reference_models import DistrictFields
from services.intake.reference_service import announce_all
from services.intake.repository import IntakeRepository
from services.intake.roster import BULK_WINDOW, Roster
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts.envelope import DISTRICT_ID_PATTERN
from shared.kafka import BrokerUnavailable, EventPublisher, ensure_topics
from shared.mongo import Document, connect, database
from shared.settings import PlatformSettings

# An installed (non-editable) package has no deploy/ folder beside it: images set GRID_DEMO_FILE.
DEMO_FILE = Path(
    os.environ.get("GRID_DEMO_FILE", Path(__file__).resolve().parents[2] / "deploy" / "demo" / "chengzhong.yaml")
)
EXIT_BAD_ROWS = 2


async def _with_db(settings: PlatformSettings, work: Callable[[AsyncDatabase[Document]], Awaitable[int]]) -> int:
    client = connect(settings)
    try:
        return await work(database(client, settings))
    finally:
        await client.close()


@asynccontextmanager
async def _roster(settings: PlatformSettings) -> AsyncIterator[Roster]:
    """Announcements of volunteer writes, checked before anything is written: with Kafka down, nothing is."""
    topics = settings.topics()
    try:
        # Also creates the requests topic with its partition count on a fresh install, before a service did.
        await ensure_topics(settings.kafka_bootstrap, topics, timeout_seconds=settings.kafka_timeout_seconds)
    except Exception as exc:
        # Not BrokerUnavailable: nothing was written, so there is nothing to complete later.
        raise ValueError(f"Kafka at {settings.kafka_bootstrap} is unreachable, nothing was written: {exc!r}") from exc
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    try:
        yield Roster(publisher, topics.requests, source="gridctl", window=BULK_WINDOW)
    finally:
        await publisher.close()


def _progress_of(quiet: bool) -> Callable[[str], Callable[[int, int], None] | None]:
    def of(kind: str) -> Callable[[int, int], None] | None:
        if quiet:
            return None
        return lambda done, total: importer.progress(done, total, label=f"{kind:<15} ")

    return of


async def _load(path: Path, settings: PlatformSettings, quiet: bool = False) -> int:
    spec = reference_data.read_yaml(path)

    async def work(db: AsyncDatabase[Document]) -> int:
        async with _roster(settings) as roster:
            reports = await reference_data.load(db, spec, roster=roster, progress=_progress_of(quiet))
        rejected = False
        for kind, report in reports.items():
            for error in report.errors:
                print(f"rejected {kind} {error}", file=sys.stderr)
            rejected = rejected or bool(report.errors)
            print(f"{kind}: {report.summary()}")
        print(f"loaded district {spec['district']['id']}; {roster.announced} volunteers announced")
        return EXIT_BAD_ROWS if rejected else 0

    return await _with_db(settings, work)


async def _announce(args: argparse.Namespace, settings: PlatformSettings) -> int:
    async def work(db: AsyncDatabase[Document]) -> int:
        repo = IntakeRepository(db)
        await _require_district(repo, args.district)
        async with _roster(settings) as roster:
            problems = await announce_all(repo, district_id=args.district, roster=roster)
        for problem in problems:
            print(f"not announced {problem}", file=sys.stderr)
        print(f"{roster.announced} volunteers of {args.district} announced, {len(problems)} not valid")
        return EXIT_BAD_ROWS if problems else 0

    return await _with_db(settings, work)


async def _topics(settings: PlatformSettings) -> int:
    topics = settings.topics()
    await ensure_topics(settings.kafka_bootstrap, topics)
    print(
        "topics ready: "
        + ", ".join(f"{name} ({count} partitions)" for name, count in topics.partition_counts().items())
    )
    return 0


async def _district_create(args: argparse.Namespace, settings: PlatformSettings) -> int:
    if not re.fullmatch(DISTRICT_ID_PATTERN, args.district_id):
        raise ValueError(f"district id {args.district_id!r}: lower-case letters, digits, - and _")
    fields = DistrictFields(name_zh=args.name_zh, name_en=args.name_en, timezone=args.timezone)

    async def work(db: AsyncDatabase[Document]) -> int:
        created = await IntakeRepository(db).upsert_district(args.district_id, fields.model_dump(mode="json"))
        print(f"district {args.district_id} {'created' if created else 'updated'}")
        return 0

    return await _with_db(settings, work)


async def _require_district(repo: IntakeRepository, district_id: str) -> None:
    if not await repo.district_exists(district_id):
        raise ValueError(f"no district {district_id!r}: create it with `gridctl district create`")


async def _import(args: argparse.Namespace, settings: PlatformSettings) -> int:
    records = importer.read_rows(args.kind, args.path)

    async def work(db: AsyncDatabase[Document]) -> int:
        repo = IntakeRepository(db, cache_seconds=importer.BULK_CACHE_SECONDS)
        await _require_district(repo, args.district)
        async with _roster(settings) as roster:
            report = await importer.import_rows(
                repo,
                district_id=args.district,
                kind=args.kind,
                records=records,
                from_csv=args.path.suffix.lower() == ".csv",
                roster=roster,
                on_progress=None if args.quiet else importer.progress,
            )
        for error in report.errors:
            print(f"rejected {error}", file=sys.stderr)
        print(f"{args.kind} into {args.district}: {report.summary()}")
        return EXIT_BAD_ROWS if report.errors else 0

    return await _with_db(settings, work)


async def _export(args: argparse.Namespace, settings: PlatformSettings) -> int:
    async def work(db: AsyncDatabase[Document]) -> int:
        repo = IntakeRepository(db)
        await _require_district(repo, args.district)
        records = await importer.export_rows(repo, district_id=args.district, kind=args.kind)
        fmt = args.format or ("csv" if args.output and args.output.suffix.lower() == ".csv" else "yaml")
        if args.output:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                importer.write_rows(args.kind, records, fmt, out)
            print(f"exported {len(records)} {args.kind} to {args.output}", file=sys.stderr)
        else:
            importer.write_rows(args.kind, records, fmt, sys.stdout)
        return 0

    return await _with_db(settings, work)


async def _keys_create(args: argparse.Namespace, settings: PlatformSettings) -> int:
    role = Role(args.role)
    district = None if role is Role.PLATFORM_ADMIN else args.district
    if role is not Role.PLATFORM_ADMIN and not district:
        raise ValueError(f"a {role.value} key needs --district")
    if role is Role.PLATFORM_ADMIN and args.district:
        raise ValueError("a platform_admin key spans all districts: leave out --district")

    async def work(db: AsyncDatabase[Document]) -> int:
        repo = IntakeRepository(db)
        subject = args.subject or f"{role.value}:{args.label or 'cli'}"
        if district is not None:
            await _require_district(repo, district)
        if role is Role.VOLUNTEER:
            if not args.subject or await repo.reference("volunteers", str(district), args.subject) is None:
                raise ValueError("a volunteer key needs --subject <volunteer id> of that district")
        plaintext = await ApiKeyRepository(db).create(
            district_id=district, role=role, subject=subject, label=args.label or ""
        )
        print(plaintext)
        print("store it now: it is shown only once", file=sys.stderr)
        return 0

    return await _with_db(settings, work)


async def _keys_revoke(args: argparse.Namespace, settings: PlatformSettings) -> int:
    key_id = args.key.split("_")[1] if args.key.startswith("gsp_") else args.key

    async def work(db: AsyncDatabase[Document]) -> int:
        if await ApiKeyRepository(db).revoke(key_id):
            print(f"key {key_id} revoked")
            return 0
        print(f"gridctl: no active key {key_id}", file=sys.stderr)
        return 1

    return await _with_db(settings, work)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="gridctl", description="Administer the Grid Service Platform")
    commands = root.add_subparsers(dest="command", required=True)
    load = commands.add_parser(
        "load", help="load a district's reference data from YAML and announce its volunteers (idempotent)"
    )
    load.add_argument("path", type=Path)
    load.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    commands.add_parser("demo", help="load the demo district 'chengzhong'")
    commands.add_parser("topics", help="create the Kafka topics with their partition counts")

    district = commands.add_parser("district", help="districts").add_subparsers(dest="action", required=True)
    create = district.add_parser("create", help="create or rename a district")
    create.add_argument("district_id")
    create.add_argument("--name-zh", required=True)
    create.add_argument("--name-en", required=True)
    create.add_argument("--timezone", default="Asia/Shanghai")

    imports = commands.add_parser(
        "import", help="import rows from CSV or YAML; bad rows are listed, good rows imported, re-runs change nothing"
    )
    imports.add_argument("kind", choices=rows.IMPORTABLE)
    imports.add_argument("path", type=Path)
    imports.add_argument("--district", "-d", required=True)
    imports.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    export = commands.add_parser("export", help="export rows as CSV or YAML, in the import format")
    export.add_argument("kind", choices=rows.IMPORTABLE)
    export.add_argument("--district", "-d", required=True)
    export.add_argument("--format", "-f", choices=("csv", "yaml"))
    export.add_argument("--output", "-o", type=Path)

    roster = commands.add_parser("roster", help="volunteer rosters").add_subparsers(dest="action", required=True)
    announce = roster.add_parser(
        "announce",
        help="announce every volunteer of a district to dispatch again (after a crash between a write and its "
        "announcement, or for data written before announcements existed)",
    )
    announce.add_argument("--district", "-d", required=True)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    key_create = keys.add_parser("create", help="create a key and print it once")
    key_create.add_argument("--district", "-d")
    key_create.add_argument("--role", "-r", required=True, choices=[r.value for r in Role])
    key_create.add_argument("--subject", "-s", help="the volunteer id, for volunteer keys")
    key_create.add_argument("--label", "-l", help="who holds the key, e.g. the app's name")
    revoke = keys.add_parser("revoke", help="revoke a key by its id (or the whole key)")
    revoke.add_argument("key")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = PlatformSettings()
    handlers: dict[str, Callable[[], Awaitable[int]]] = {
        "load": lambda: _load(args.path, settings, args.quiet),
        "demo": lambda: _load(DEMO_FILE, settings, quiet=True),
        "roster": lambda: _announce(args, settings),
        "topics": lambda: _topics(settings),
        "district": lambda: _district_create(args, settings),
        "import": lambda: _import(args, settings),
        "export": lambda: _export(args, settings),
        "keys": lambda: (_keys_create if args.action == "create" else _keys_revoke)(args, settings),
    }
    try:
        return asyncio.run(_run(handlers[args.command]))
    except BrokerUnavailable as exc:
        print(f"gridctl: {exc}", file=sys.stderr)
        print(
            "gridctl: whatever was written is kept; run the same command again (it is idempotent and announces "
            "every volunteer again) or `gridctl roster announce -d <district>`",
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError, ValidationError) as exc:
        print(f"gridctl: {exc}", file=sys.stderr)
        return 1


async def _run(handler: Callable[[], Awaitable[int]]) -> int:
    return await handler()


if __name__ == "__main__":
    sys.exit(main())
