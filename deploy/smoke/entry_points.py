"""Start every entry point of a clean install with the containers' environment and wait for /readyz.

Run by deploy/smoke/clean_install.sh on the interpreter of the fresh virtual environment: only the standard
library and the package's run-time dependencies are importable here, exactly as in the image.

The environment of each service is the one a container gets: `ENV` of deploy/Dockerfile, then the
service's `environment` in deploy/compose.yaml (anchors, merge keys and `${VAR:-default}` resolved as
compose does). Only what must differ outside a container network is replaced, and printed: the Kafka and
MongoDB addresses (the native stack), the listen address (loopback, not 0.0.0.0), the ports (free ones, not
8000-8003), the services' host names in URLs, and a topic prefix and database of this run, removed at the end.
Every variable compose sets must be one that a service reads, so a misspelt setting fails here too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

SERVICES = ("intake", "dispatch", "notify", "console")
PORT_VARIABLES = {name: f"{name.upper()}_PORT" for name in SERVICES}
READY_SECONDS = 90.0
STOP_SECONDS = 20.0
# Read by the code with os.environ rather than a settings class.
READ_DIRECTLY = {"GRID_DEMO_FILE", "HOSTNAME", "PATH", "HOME", "LANG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def say(message: str) -> None:
    print(f"[smoke] {message}", flush=True)


def dockerfile_env(path: Path) -> dict[str, str]:
    """`ENV KEY=value ...` instructions of the final stage (line continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].upper() == "FROM":
            env = {}  # a new stage starts with none of the previous stage's ENV
        if len(words) == 2 and words[0].upper() == "ENV":
            for pair in shlex.split(words[1]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        present = name in variables
        empty = not variables.get(name)
        if op in (":-", "-"):
            return arg if (empty if op == ":-" else not present) else variables[name]
        if op in (":?", "?") and (empty if op == ":?" else not present):
            raise SystemExit(f"compose requires {name}: {arg}")
        return variables.get(name, "")

    return INTERPOLATION.sub(substitute, value)


def compose_environment(service: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, variables.get(item, "")) for item in raw)
    return {str(key): interpolate(str(value), variables) for key, value in raw.items()}


def known_variables() -> set[str]:
    """Every environment variable a settings class of the platform reads."""
    from pydantic_settings import BaseSettings

    from services.console.settings import ConsoleSettings
    from services.dispatch.settings import DispatchEngineSettings
    from services.intake.routes.inbound_messages import InboundSmsSettings
    from services.intake.settings import ApiLimits
    from services.intake.volunteer.settings import VolunteerPageSettings
    from services.notify.message_settings import MessageSettings
    from services.notify.settings import NotifySettings
    from shared import settings as shared_settings
    from shared.gateways.twilio import TwilioSettings
    from shared.settings import IntakeSettings

    classes: list[type[BaseSettings]] = [IntakeSettings, ApiLimits, DispatchEngineSettings, NotifySettings]
    classes += [ConsoleSettings, InboundSmsSettings, VolunteerPageSettings, MessageSettings, TwilioSettings]
    classes += [c for c in vars(shared_settings).values() if isinstance(c, type) and issubclass(c, BaseSettings)]
    names = {str(f.validation_alias) for c in classes for f in c.model_fields.values() if f.validation_alias}
    return names | READ_DIRECTLY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def cleanup(bootstrap: str, mongodb_uri: str, database: str, topics: list[str]) -> None:
    """Leave the shared stack as we found it: drop our database and topics (the broker forgets the offsets of
    deleted topics, and our then empty consumer groups expire by themselves)."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]]
    with MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(database)

    async def kafka() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            mine = [t for t in topics if t in existing]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()

    try:
        asyncio.run(kafka())
    except Exception as exc:  # leftovers under a unique prefix harm nobody; say so and go on
        say(f"could not remove this run's topics: {exc!r}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--mongodb", default=os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"))
    args = parser.parse_args()

    import services

    installed = Path(services.__file__).resolve()
    if args.venv.resolve() not in installed.parents:
        raise SystemExit(f"services imported from {installed}, not from the clean install in {args.venv}")

    run_id = f"{int(time.time())}{secrets.token_hex(2)}"
    prefix, database = f"smoke{run_id}.", f"grid_smoke_{run_id}"
    ports = {name: free_port() for name in SERVICES}
    # What an operator puts into compose's .env (deploy/compose.yaml requires it).
    operator_env = {"GRID_ID_SIGNING_KEY": secrets.token_urlsafe(32)}

    image_env = dockerfile_env(args.root / "deploy" / "Dockerfile")
    compose = yaml.safe_load((args.root / "deploy" / "compose.yaml").read_text())
    known = known_variables()
    overrides = {
        "KAFKA_BOOTSTRAP": args.kafka,
        "MONGODB_URI": args.mongodb,
        "MONGODB_DATABASE": database,
        "GRID_TOPIC_PREFIX": prefix,
        "GRID_HOST": "127.0.0.1",
        "GRID_DEMO_FILE": str(args.root / "deploy" / "demo" / "chengzhong.yaml"),
        **{PORT_VARIABLES[name]: str(port) for name, port in ports.items()},
    }
    host_url = re.compile(r"http://(" + "|".join(SERVICES) + r"):\d+")

    environments: dict[str, dict[str, str]] = {}
    for name in SERVICES:
        service = compose["services"][name]
        container = {**image_env, **compose_environment(service, operator_env)}
        unknown = sorted(set(container) - known)
        if unknown:
            raise SystemExit(f"compose sets {unknown} for {name}, which no service reads")
        env = {k: host_url.sub(lambda m: f"http://127.0.0.1:{ports[m.group(1)]}", v) for k, v in container.items()}
        env.update(overrides)
        env["PATH"] = f"{args.venv / 'bin'}:/usr/bin:/bin"
        env["HOME"] = str(args.logs)
        environments[name] = env
        command = service.get("command") or []
        if command != [f"grid-{name}"]:
            raise SystemExit(f"compose runs {command} for {name}, expected ['grid-{name}']")
        changed = sorted(k for k in overrides if container.get(k) not in (None, env[k]))
        say(f"{name}: container environment {sorted(container)}; replaced here: {changed}")

    args.logs.mkdir(parents=True, exist_ok=True)
    topics = [f"{prefix}{t}" for t in ("grid.requests.v2", "grid.status.v2", "grid.deadletter.v1")]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    failed = False
    try:
        # The README's Docker section, the same commands with the same environment as intake's container.
        key = ["gridctl", "keys", "create", "-d", "chengzhong", "-r"]
        for command in (["gridctl", "topics"], ["gridctl", "demo"], [*key, "client_app"], [*key, "operator"]):
            full = [str(args.venv / "bin" / command[0]), *command[1:]]
            result = subprocess.run(full, env=environments["intake"], capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
            say(f"{' '.join(command)}: ok")

        for name in SERVICES:
            log = (args.logs / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                [str(args.venv / "bin" / f"grid-{name}")],
                env=environments[name],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=args.logs,
                start_new_session=True,
            )
        for name in SERVICES:
            url = f"http://127.0.0.1:{ports[name]}"
            deadline = time.monotonic() + READY_SECONDS
            status, body = 0, ""
            while time.monotonic() < deadline:
                if processes[name].poll() is not None:
                    raise SystemExit(
                        f"grid-{name} exited with {processes[name].returncode}:\n{tail(args.logs / f'{name}.log')}"
                    )
                try:
                    status, body = get(f"{url}/readyz")
                except OSError:
                    status = 0
                if status == 200:
                    break
                time.sleep(0.5)
            if status != 200:
                raise SystemExit(
                    f"grid-{name} not ready after {READY_SECONDS:g}s ({status} {body}):\n"
                    f"{tail(args.logs / f'{name}.log')}"
                )
            health, _ = get(f"{url}/healthz")
            if health != 200:
                raise SystemExit(f"grid-{name}: /healthz answered {health}")
            checks = json.loads(body).get("checks", {})
            say(f"grid-{name} ready on {url} {checks}")
        console, _ = get(f"http://127.0.0.1:{ports['console']}/console/")
        if console != 200:
            raise SystemExit(f"the console's page answered {console}: its static files are not in the wheel?")
        say("console page served from the installed package")
    except SystemExit as exc:
        failed = True
        say(f"FAILED: {exc}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in processes.items():
            try:
                code = process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                say(f"grid-{name} ignored SIGTERM for {STOP_SECONDS:g}s and was killed")
                failed = True
                continue
            if code not in (0, -signal.SIGTERM) and not failed:
                say(f"grid-{name} exited with {code} on SIGTERM:\n{tail(args.logs / f'{name}.log')}")
                failed = True
        cleanup(args.kafka, args.mongodb, database, topics)
    if failed:
        return 1
    say("every entry point of the clean install became ready and stopped on SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
