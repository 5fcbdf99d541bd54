"""The two public interfaces the bench drives: intake's submission endpoint and notify's operator stream.

Plain asyncio sockets (HTTP/1.1 keep-alive, chunked SSE), so that the load generator costs little next to the
services it measures on a shared 2-core machine. All times are `time.perf_counter()` of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from bench.e2e.population import MENU, MENU_WEIGHTS, Shape

# The first status event that shows dispatch decided: an offer, or no eligible volunteer at this level.
DECISIONS: Final = frozenset({"request.offered", "request.escalated", "request.unmatched", "request.rejected"})


class HttpError(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Submitter:
    """Builds and sends submissions for one district (random grid, mostly errands), like a client app."""

    def __init__(self, port: int, shape: Shape, key: str, seed: int) -> None:
        self.port, self.shape, self.key = port, shape, key
        self.rng = random.Random(seed)
        self.path = f"/v1/districts/{shape.district_id}/requests"
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def body(self) -> bytes:
        item = self.rng.choices(MENU, weights=MENU_WEIGHTS)[0]
        n = self.rng.randrange(10**8)
        return json.dumps(
            {
                "menu_item_code": item["code"],
                "grid_id": self.shape.grid_id(self.rng.randrange(self.shape.grids)),
                "resident_name": f"居民{n}",
                "resident_phone": f"139{n:08d}",
                "text": "十斤米，一桶油",
            },
            ensure_ascii=False,
        ).encode()

    async def submit(self, connection: Connection) -> str | None:
        """POST one request; its id when intake answered 202, else None (status counted)."""
        headers = {"Content-Type": "application/json", "X-API-Key": self.key, "Idempotency-Key": uuid.uuid4().hex}
        body = self.body()
        try:
            try:
                status, payload = await connection.request("POST", self.path, headers, body)
            except (OSError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: once more on a new one, same Idempotency-Key.
                connection.close()
                status, payload = await connection.request("POST", self.path, headers, body)
        except (OSError, asyncio.IncompleteReadError) as error:
            self.statuses[0] += 1
            self.errors.append(repr(error))
            return None
        self.statuses[status] += 1
        if status != 202:
            if len(self.errors) < 5:
                self.errors.append(f"{status} {payload[:200].decode(errors='replace')}")
            return None
        return str(json.loads(payload)["request_id"])


@dataclass
class Decision:
    at: float
    kind: str


@dataclass
class OperatorStream:
    """notify's SSE stream of one district for an operator key; keeps the first decision per request id.

    Reconnects with `Last-Event-ID` when the server closes the stream (overflow, restart)."""

    port: int
    district_id: str
    key: str
    decisions: dict[str, Decision] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    controls: Counter[str] = field(default_factory=Counter)
    events: int = 0
    reconnects: int = 0
    last_event_at: float = 0.0
    last_id: str | None = None
    _waiters: dict[str, asyncio.Future[Decision]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, within: float = 30.0) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), within)

    async def settle(self, quiet: float = 1.5, within: float = 120.0) -> None:
        """Wait until the replay of the district's history is over (no event for `quiet` seconds)."""
        deadline = time.perf_counter() + within
        while True:
            now = time.perf_counter()
            if now > deadline or now - self.last_event_at >= quiet:
                return
            await asyncio.sleep(0.2)

    async def wait_for(self, request_id: str, within: float) -> Decision | None:
        if request_id in self.decisions:
            return self.decisions[request_id]
        future = self._waiters.setdefault(request_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(future), within)
        except TimeoutError:
            return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.5)

    async def _follow(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        self._writer = writer
        head = [
            f"GET /v1/districts/{self.district_id}/events HTTP/1.1",
            "Host: 127.0.0.1",
            "Accept: text/event-stream",
            f"X-API-Key: {self.key}",
        ]
        if self.last_id is not None:
            head.append(f"Last-Event-ID: {self.last_id}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        response = await reader.readuntil(b"\r\n\r\n")
        status_line = response.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line:
            raise ValueError(f"operator stream: {status_line.decode(errors='replace')}")
        chunked = b"chunked" in response.lower()
        self.last_event_at = time.perf_counter()
        self._connected.set()
        buffer = b""
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    return
                chunk = (await reader.readexactly(size + 2))[:-2]
            else:
                chunk = await reader.read(65536)
                if not chunk:
                    return
            arrived = time.perf_counter()
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                self._frame(frame, arrived)

    def _frame(self, frame: bytes, arrived: float) -> None:
        kind, data, event_id = "message", b"", None
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                kind = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
            elif line.startswith(b"id: "):
                event_id = line[4:].decode()
        if event_id is not None:
            self.last_id = event_id
        if not data:
            return
        if not kind.startswith("request."):
            self.controls[kind] += 1
            return
        self.events += 1
        self.last_event_at = arrived
        self.kinds[kind] += 1
        if kind not in DECISIONS:
            return
        request_id = str(json.loads(data).get("request_id"))
        if request_id in self.decisions:
            return
        decision = Decision(arrived, kind)
        self.decisions[request_id] = decision
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(decision)
