"""Which webhook URLs we call: only global addresses (no SSRF), loopback only when a setting allows it.

Pure: parsing and address rules. Resolution happens once per delivery in `services/notify/webhooks.py`,
which then connects to the very address checked here (no DNS-rebinding window between check and connect).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges the standard library still calls global (or that hide another address) but that must never be
# a webhook target: carrier-grade NAT (cloud metadata services such as 100.100.100.200 live there),
# 6to4 and NAT64 (which embed an IPv4 address, possibly a private one), and deprecated site-local IPv6.
REFUSED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("2002::/16"),
    ipaddress.ip_network("fec0::/10"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2001::/32"),  # Teredo: tunnels to an embedded IPv4 address
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (3.11 calls some of it global)
)


class RefusedTarget(ValueError):
    """The URL points somewhere notify must not call."""


@dataclass(frozen=True)
class TargetUrl:
    scheme: str
    host: str  # ASCII (IDNA) host name, or an IP literal without brackets
    port: int
    path_and_query: str

    @property
    def default_port(self) -> bool:
        return self.port == (443 if self.scheme == "https" else 80)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.default_port else f"{host}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The same URL aimed at one resolved address (the Host header and SNI keep the name)."""
        literal = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{literal}:{self.port}{self.path_and_query}"


def parse_target(url: str) -> TargetUrl:
    """An http(s) URL without credentials, with a valid host and port; RefusedTarget (a 422) otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise RefusedTarget(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget("only http and https URLs are accepted")
    if parts.username or parts.password:
        raise RefusedTarget("URLs must not carry credentials")
    if not parts.hostname:
        raise RefusedTarget("URL has no host")
    try:
        port = parts.port
    except ValueError as exc:  # "port out of range 0-65535", or not a number
        raise RefusedTarget(f"the URL's port is not valid: {exc}") from exc
    if port == 0:
        raise RefusedTarget("the URL's port is not valid: 0")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise RefusedTarget(f"the URL's host is not a valid name: {exc}") from exc
    path = parts.path or "/"
    return TargetUrl(
        scheme=parts.scheme,
        host=host,
        port=port or (443 if parts.scheme == "https" else 80),
        path_and_query=path + (f"?{parts.query}" if parts.query else ""),
    )


def check_url_shape(url: str) -> str:
    """Return the host of an http(s) URL without credentials; raise RefusedTarget otherwise."""
    return parse_target(url).host


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def check_address(address: str, *, allow_loopback: bool) -> IPAddress:
    """The address, when notify may call it: global by the standard library's notion, and none of
    REFUSED_NETWORKS, multicast or (unless allowed) loopback. Raise RefusedTarget otherwise."""
    ip = ip_literal(address)
    if ip is None:
        raise RefusedTarget(f"{address!r} is not an IP address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        if allow_loopback:
            return ip
        raise RefusedTarget(f"{address} is a loopback address")
    if not ip.is_global or ip.is_multicast or any(ip in network for network in REFUSED_NETWORKS):
        raise RefusedTarget(f"{address} is not a public address")
    return ip
