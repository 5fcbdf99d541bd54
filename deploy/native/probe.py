"""Answer whether Kafka and a MongoDB-wire server really respond, using only the standard library.

`start` in stack.sh must not return before the servers answer, and it runs before the project's
virtualenv may exist, so this probe speaks the two wire protocols directly.
"""

from __future__ import annotations

import socket
import struct
import sys
import time


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks.extend(chunk)
    return bytes(chunks)


def kafka_metadata_brokers(host: str, port: int, timeout: float = 2.0) -> int:
    """Send a Metadata v4 request (all topics) and return the number of brokers listed."""
    client_id = b"gridservice-probe"
    correlation_id = 7
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">ib", -1, 0)  # topics = null (all), allow_auto_topic_creation = false
    payload = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        response = _recv_exact(sock, size)
    got_correlation, _throttle, broker_count = struct.unpack(">iii", response[:12])
    if got_correlation != correlation_id:
        raise ConnectionError("unexpected correlation id")
    return broker_count


def _bson_ping() -> bytes:
    elements = b"\x10ping\x00" + struct.pack("<i", 1)
    elements += b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"


def mongo_ping(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send OP_MSG {ping: 1} and report whether the reply says ok: 1."""
    document = _bson_ping()
    message = struct.pack("<I", 0) + b"\x00" + document
    header = struct.pack("<iiii", 16 + len(message), 1, 0, 2013)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(header + message)
        (length,) = struct.unpack("<i", _recv_exact(sock, 4))
        reply = _recv_exact(sock, length - 4)
    ok_marker = b"\x01ok\x00" + struct.pack("<d", 1.0)
    return ok_marker in reply


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in {"kafka", "mongo"}:
        print("usage: probe.py kafka|mongo HOST:PORT [--wait SECONDS]", file=sys.stderr)
        return 2
    kind, address = argv[1], argv[2]
    host, _, port_text = address.rpartition(":")
    wait = float(argv[4]) if len(argv) > 4 and argv[3] == "--wait" else 0.0
    deadline = time.monotonic() + wait
    last_error = "no answer"
    while True:
        try:
            if kind == "kafka":
                if kafka_metadata_brokers(host, int(port_text)) > 0:
                    return 0
                last_error = "metadata lists no broker yet"
            else:
                if mongo_ping(host, int(port_text)):
                    return 0
                last_error = "ping did not return ok"
        except (OSError, struct.error) as exc:
            last_error = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            print(f"{kind} at {address}: {last_error}", file=sys.stderr)
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
