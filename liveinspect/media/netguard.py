"""Which network addresses a source URL may reach: a filter applied after DNS resolution.

A platform inspects URLs that streamers paste. Fetched naively, such a URL
(or a redirect, or a segment named inside a remote HLS playlist) can make
this process talk to the machine it runs on (127.0.0.1, an admin port), to
the private network behind it, or to the cloud's metadata service
(169.254.169.254 hands out credentials). So every URL is checked before a
byte is requested: the scheme must be allowed, the host is resolved and
*every* address it resolves to must be a public unicast address; one bad
address refuses the URL, because a resolver may return them in any order.
The checked addresses are returned so the caller can connect to exactly
those (a second lookup could be answered differently: DNS rebinding).

`allow_private=True` admits loopback, private, link-local and other
non-public addresses for deployments that serve media on their own network
(and for tests on 127.0.0.1). The cloud metadata endpoints stay refused
even then: no media is served there and their answers are secrets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from liveinspect.errors import MediaError, UnsafeSourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_SCHEMES = ("http", "https", "rtmp", "rtmps")
DEFAULT_PORTS = {"http": 80, "https": 443, "rtmp": 1935, "rtmps": 443}

# Instance metadata and host-agent endpoints of the common clouds. Most are
# link-local anyway; 100.100.100.200 (Alibaba Cloud) sits in the shared
# CGNAT block and 168.63.129.16 (Azure WireServer) is a public address, so
# both need naming. Refused whatever allow_private says.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
    "169.254.170.2",     # AWS ECS task credentials
    "169.254.0.23",      # Tencent Cloud
    "100.100.100.200",   # Alibaba Cloud
    "168.63.129.16",     # Azure WireServer
    "192.0.0.192",       # Oracle Cloud (classic)
    "fd00:ec2::254",     # AWS over IPv6
))

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")   # carrier-grade NAT, RFC 6598
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64), if any.

    `::ffff:127.0.0.1` connects to 127.0.0.1 on a dual-stack socket, and the
    tunnelling forms can reach a private IPv4 host through a gateway, so
    they are judged by the address inside.
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    for prefix in _NAT64_PREFIXES:
        if address in prefix:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `address` may not be fetched from, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:   # fe80::1%eth0: the zone does not change what the address is
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        inner = _embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner, allow_private=allow_private)
            return f"an IPv6 form of {inner}, which is {problem}" if problem else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata endpoint"
    if allow_private:
        return None
    for test, reason in (
            (address.is_loopback, "a loopback address (this machine)"),
            (address.is_unspecified, "the unspecified address (reaches this machine)"),
            (address.is_link_local, "a link-local address"),
            (address.is_multicast, "a multicast address"),
            (address in _SHARED_ADDRESS_SPACE if address.version == 4 else False,
             "in the carrier-grade NAT block (a provider's internal network)"),
            (address.is_private, "a private-network address"),
            (address.is_reserved, "a reserved address"),
            (not address.is_global, "not a public address")):
        if test:
            return reason
    return None


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the filter, with the addresses it may be fetched from."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _split(url: str, schemes: Iterable[str]) -> tuple[str, str, int]:
    # Whitespace and control characters are read differently by different URL
    # parsers (ours and FFmpeg's); a URL with them is not worth the ambiguity.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UnsafeSourceError("URL contains spaces, control characters or backslashes; refused",
                                source=url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allowed = tuple(s.lower() for s in schemes)
    if scheme not in allowed:
        raise UnsafeSourceError(f"scheme {scheme or '(none)'!r} is not allowed here "
                                f"(allowed: {', '.join(allowed)})", source=url)
    host = parts.hostname
    if not host:
        raise UnsafeSourceError(f"{scheme} URL has no host", source=url)
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError as error:
        raise UnsafeSourceError(f"URL has an invalid port: {error}", source=url) from error
    return scheme, host, port


def resolve_addresses(host: str, port: int, *, display: str) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to for a TCP connection (IP literals included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as error:
        raise MediaError(f"cannot resolve host {host!r}: {error}; check the URL and the "
                         "machine's DNS", source=display) from error
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise MediaError(f"host {host!r} has no IPv4 or IPv6 address", source=display)
    return tuple(addresses)


def check_url(url: str, *, allow_private: bool = False,
              schemes: Iterable[str] = DEFAULT_SCHEMES) -> CheckedURL:
    """Check `url` and return the addresses it may be fetched from.

    Raises UnsafeSourceError (a MediaError) naming the URL, the address and
    why; MediaError when the host does not resolve.
    """
    scheme, host, port = _split(url, schemes)
    addresses = resolve_addresses(host, port, display=url)
    for address in addresses:
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            via = "" if host == str(address) else f" (host {host!r} resolves to it)"
            hint = "" if allow_private or "metadata" in problem else \
                "; if this media really is served on your own network, pass --allow-private-urls"
            raise UnsafeSourceError(f"refusing to fetch from {address}{via}: it is {problem}{hint}",
                                    source=url)
    return CheckedURL(url=url, scheme=scheme, host=host, port=port, addresses=addresses)


def check_source_url(url: str, *, allow_private: bool = False,
                     schemes: Iterable[str] = DEFAULT_SCHEMES) -> None:
    """Raise UnsafeSourceError unless every address `url`'s host resolves to may be fetched."""
    check_url(url, allow_private=allow_private, schemes=schemes)
