"""Webhook targets: every non-global address is refused, and a delivery connects to the address it checked.

No test here sends anything anywhere but 127.0.0.1: refused addresses are literals that are never
contacted, and names resolve through a resolver the test controls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.notify.domain.targets import RefusedTarget, check_address, parse_target
from services.notify.webhooks import check_target

NOT_GLOBAL = [
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # a cloud metadata address inside it
    "100.127.255.254",
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::1",
    "fec0::1",  # site-local
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "::",
    "::1",
    "fe80::1",
    "fd00::1",
    "fc00::1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "192.0.0.8",
    "198.18.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "224.0.1.1",
    "ff0e::1",
    "192.0.2.1",  # documentation ranges
    "2001:db8::1",
]


@pytest.mark.parametrize("address", NOT_GLOBAL)
def test_every_non_global_address_is_refused(address: str) -> None:
    with pytest.raises(RefusedTarget):
        check_address(address, allow_loopback=True if address != "::1" else False)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_global_addresses_pass(address: str) -> None:
    assert str(check_address(address, allow_loopback=False)) == address


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org:99999/x",
        "http://hooks.example.org:0/x",
        "http://hooks.example.org:-1/x",
        "http://hooks.example.org:http/x",
        "https://[::1",
        "http://" + "a" * 64 + ".example.org/",
        "gopher://hooks.example.org/",
    ],
)
def test_malformed_urls_are_refused_not_errors(url: str) -> None:
    with pytest.raises(RefusedTarget):
        parse_target(url)


@pytest.mark.parametrize(
    "url", ["http://100.100.100.200/latest/meta-data", "http://[2002:a00:1::1]/", "http://[fec0::1]:8080/"]
)
async def test_literal_targets_are_refused_at_registration(url: str) -> None:
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no resolution")

    with pytest.raises(RefusedTarget):
        await check_target(url, allow_loopback=True, resolver=no_dns)


async def test_a_name_with_any_non_global_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "100.100.100.200"]

    with pytest.raises(RefusedTarget):
        await check_target("https://hooks.example.org/x", allow_loopback=False, resolver=resolver)


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    hits: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hits.append({"host": self.headers["Host"], "path": self.path, "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), hits
    server.shutdown()
    server.server_close()


async def test_the_delivery_connects_to_the_address_that_was_checked(
    receiver: tuple[int, list[dict[str, Any]]],
) -> None:
    """A rebinding resolver answers loopback (allowed here) once, then a private address: the post must
    go to the first answer without asking again."""
    port, hits = receiver
    answers = [["127.0.0.1"], ["10.0.0.1"]]
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked) - 1, 1)]

    pinned = await check_target(f"http://hooks.example.test:{port}/grid?x=1", allow_loopback=True, resolver=rebinding)
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await pinned.post(client, content=b"{}", headers={"Content-Type": "application/json"})

    assert response.status_code == 204
    assert asked == ["hooks.example.test"]
    assert hits == [{"host": f"hooks.example.test:{port}", "path": "/grid?x=1", "body": b"{}"}]
    with pytest.raises(RefusedTarget):  # and the next delivery's check sees the rebinding
        await check_target(f"http://hooks.example.test:{port}/grid", allow_loopback=True, resolver=rebinding)
