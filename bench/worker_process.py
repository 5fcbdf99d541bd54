"""A benchmark's load generator in a process of its own, driven by JSON lines on its stdin.

Benchmarks that open thousands of connections run the clients in separate processes, so that the clients'
parsing is not done by the process that measures. Each command is one JSON line; the worker answers with one
JSON line (or more: `next_answer`) on its stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any, Self

LINE_LIMIT = 1 << 26  # commands and answers carry a round's request ids and arrival times


class WorkerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *argv: str) -> Self:
        """`python <argv>`, e.g. ("-m", "bench.growth", "--worker")."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT
        )
        return cls(process)

    async def ask(self, command: dict[str, Any], within: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return await self.next_answer(within)

    async def next_answer(self, within: float) -> dict[str, Any]:
        """A further answer to the last command, for commands that answer more than once."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            raise RuntimeError("a load generator process died; see its stderr above")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self, command: dict[str, Any], within: float = 30.0) -> None:
        """Send the worker's last command (it closes its clients and exits), then kill it if it has not."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.write((json.dumps(command) + "\n").encode())
                await self.process.stdin.drain()
                await asyncio.wait_for(self.process.wait(), within)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
