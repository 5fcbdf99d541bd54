"""Which webhook URLs we call: never private networks (SSRF), loopback only when a setting allows it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class RefusedTarget(ValueError):
    """The URL points somewhere notify must not call."""


def check_url_shape(url: str) -> str:
    """Return the host of an http(s) URL without credentials; raise RefusedTarget otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget("only http and https URLs are accepted")
    if parts.username or parts.password:
        raise RefusedTarget("URLs must not carry credentials")
    if not parts.hostname:
        raise RefusedTarget("URL has no host")
    return parts.hostname


def check_address(address: str, *, allow_loopback: bool) -> None:
    """Refuse private, link-local, multicast, reserved and unspecified addresses (and loopback unless allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        if allow_loopback:
            return
        raise RefusedTarget(f"{address} is a loopback address")
    if ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise RefusedTarget(f"{address} is not a public address")
