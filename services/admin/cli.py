"""gridctl: administer the platform from a shell."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from services.admin import reference_data
from shared.kafka import ensure_topics
from shared.mongo import connect, database
from shared.settings import PlatformSettings

# An installed (non-editable) package has no deploy/ folder beside it: images set GRID_DEMO_FILE.
DEMO_FILE = Path(
    os.environ.get("GRID_DEMO_FILE", Path(__file__).resolve().parents[2] / "deploy" / "demo" / "chengzhong.yaml")
)


async def _load(path: Path, settings: PlatformSettings) -> None:
    spec = reference_data.read_yaml(path)
    client = connect(settings)
    try:
        counts = await reference_data.load(database(client, settings), spec)
    finally:
        await client.close()
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"loaded district {spec['district']['id']}: {summary}")


async def _topics(settings: PlatformSettings) -> None:
    topics = settings.topics()
    await ensure_topics(settings.kafka_bootstrap, topics)
    print(
        "topics ready: "
        + ", ".join(f"{name} ({count} partitions)" for name, count in topics.partition_counts().items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridctl", description="Administer the Grid Service Platform")
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load a district's reference data from YAML (idempotent)")
    load.add_argument("path", type=Path)
    commands.add_parser("demo", help="load the demo district 'chengzhong'")
    commands.add_parser("topics", help="create the Kafka topics with their partition counts")
    args = parser.parse_args(argv)
    settings = PlatformSettings()
    try:
        if args.command == "load":
            asyncio.run(_load(args.path, settings))
        elif args.command == "demo":
            asyncio.run(_load(DEMO_FILE, settings))
        else:
            asyncio.run(_topics(settings))
    except (OSError, ValueError) as exc:
        print(f"gridctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
