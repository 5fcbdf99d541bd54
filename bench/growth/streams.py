"""Residents' SSE streams through notify's public API, from generator processes (raw sockets, HTTP/1.1 chunked).

A stream follows one request: `GET /v1/districts/{d}/requests/{id}/events?access_token=…`, resumed with
`Last-Event-ID` set to the `id:` of the last event it had (an opaque position, whatever notify makes it). The
generators run in their own processes (`python -m bench.growth --worker`) so that ten thousand clients'
parsing is not done by the process that measures; times are CLOCK_MONOTONIC, the same in every process.

Protocol, JSON lines on the worker's stdin/stdout:
- {"op": "anchor", port, district, clients: [[request id, token]], within} → connect each (a few hundred at a
  time) and answer {"connected": n, "errors": [...]} once every one is open; then (the benchmark publishes one
  event per request meanwhile) keep the `id:` of its first request event, close, and answer
  {"positions": {request id: id}, "failed": n, "errors": [...]}
- {"op": "storm", port, district, clients: [[request id, token, last id, [expected event ids]]], within}
  → connect all at once with Last-Event-ID, read until each has every expected event:
  {"done": {request id: monotonic time}, "failed": n, "errors": [...], "controls": {kind: n}, "cpu_s": s}
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.worker_process import LINE_LIMIT, WorkerProcess

CONNECT_BATCH = 500  # sockets opened per gather; the whole storm is still under way at once
TICKS = os.sysconf("SC_CLK_TCK")
Answer = Callable[[dict[str, Any]], None]


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Stream:
    """One resident's stream; `wanted` are the event ids it must get, `done_at` when it had them all."""

    def __init__(self, request_id: str, token: str, last_id: str | None = None, wanted: list[str] | None = None):
        self.request_id, self.token, self.last_id = request_id, token, last_id
        self.wanted = set(wanted or [])
        self.first_id: str | None = None
        self.done_at: float | None = None
        self.controls: Counter[str] = Counter()
        self.finished = asyncio.Event()
        self.connected = asyncio.Event()  # the response's head arrived (or the attempt failed)

    async def run(self, port: int, district: str, *, until_first: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        try:
            path = f"/v1/districts/{district}/requests/{self.request_id}/events?access_token={self.token}"
            head = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream"]
            if self.last_id is not None:
                head.append(f"Last-Event-ID: {self.last_id}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            await writer.drain()
            response = await reader.readuntil(b"\r\n\r\n")
            status_line = response.split(b"\r\n", 1)[0]
            if b" 200 " not in status_line:
                raise RuntimeError(status_line.decode(errors="replace"))
            self.connected.set()
            chunked = b"chunked" in response.lower()
            buffer = b""
            while not self.finished.is_set():
                if chunked:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    if size == 0:
                        raise RuntimeError("stream closed by the server")
                    chunk = (await reader.readexactly(size + 2))[:-2]
                else:
                    chunk = await reader.read(65536)
                    if not chunk:
                        raise RuntimeError("stream closed by the server")
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    self._frame(frame, until_first)
        finally:
            writer.close()

    def _frame(self, frame: bytes, until_first: bool) -> None:
        kind, event_id, data = "message", None, b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b"id: "):
                event_id = line[4:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        if not kind.startswith("request."):
            if data:
                self.controls[kind] += 1
            return
        if until_first:
            self.first_id = event_id
            self.finished.set()
            return
        self.wanted.discard(str(json.loads(data).get("id")))
        if not self.wanted:
            self.done_at = time.perf_counter()
            self.finished.set()


def start_all(
    streams: list[Stream], port: int, district: str, *, until_first: bool, within: float, errors: list[str]
) -> list[asyncio.Task[None]]:
    """Start every stream, to run until it finished or `within` seconds passed; errors are appended."""

    async def one(stream: Stream) -> None:
        try:
            await asyncio.wait_for(stream.run(port, district, until_first=until_first), within)
        except Exception as exc:  # counted and reported; a storm must not stop at its first refusal
            errors.append(repr(exc)[:200])
        finally:
            stream.connected.set()  # whoever waits for the connection must not wait for a failed one

    return [asyncio.create_task(one(s)) for s in streams]


async def run_all(streams: list[Stream], port: int, district: str, *, until_first: bool, within: float) -> list[str]:
    """Run every stream until it finished or `within` seconds passed; returns the errors."""
    errors: list[str] = []
    tasks: list[asyncio.Task[None]] = []
    for first in range(0, len(streams), CONNECT_BATCH):
        batch = streams[first : first + CONNECT_BATCH]
        tasks += start_all(batch, port, district, until_first=until_first, within=within, errors=errors)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return errors


async def anchor(streams: list[Stream], port: int, district: str, within: float, answer: Answer) -> None:
    """Open every stream (gently: not the measured storm), say so, then keep each one's first request event."""
    errors: list[str] = []
    tasks: list[asyncio.Task[None]] = []
    for first in range(0, len(streams), CONNECT_BATCH):
        batch = streams[first : first + CONNECT_BATCH]
        tasks += start_all(batch, port, district, until_first=True, within=within, errors=errors)
        await asyncio.gather(*(s.connected.wait() for s in batch))
    answer({"connected": len(streams) - len(errors), "errors": errors[:5]})
    await asyncio.gather(*tasks)
    positions = {s.request_id: s.first_id for s in streams if s.first_id is not None}
    answer({"positions": positions, "failed": len(streams) - len(positions), "errors": errors[:5]})


async def worker() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        raise_fd_limit(len(command.get("clients", [])) + 256)
        if command["op"] == "anchor":
            streams = [Stream(rid, token) for rid, token in command["clients"]]
            await anchor(streams, command["port"], command["district"], command["within"], answer)
        elif command["op"] == "storm":
            cpu = cpu_seconds(os.getpid())
            streams = [Stream(rid, token, last, wanted) for rid, token, last, wanted in command["clients"]]
            port, district, within = command["port"], command["district"], command["within"]
            errors = await run_all(streams, port, district, until_first=False, within=within)
            controls: Counter[str] = Counter()
            for stream in streams:
                controls.update(stream.controls)
            answer(
                {
                    "done": {s.request_id: s.done_at for s in streams if s.done_at is not None},
                    "failed": sum(1 for s in streams if s.done_at is None),
                    "errors": errors[:5],
                    "controls": dict(controls),
                    "cpu_s": cpu_seconds(os.getpid()) - cpu,
                }
            )
        elif command["op"] == "stop":
            return


class Generator(WorkerProcess):
    """One worker process of this benchmark (`python -m bench.growth --worker`)."""

    @classmethod
    async def start_worker(cls) -> Generator:
        return await cls.start("-m", "bench.growth", "--worker")

    async def close(self) -> None:
        await self.stop({"op": "stop"}, 10)
