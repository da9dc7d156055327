"""Where a webhook may be sent (server-side request forgery).

A receiver's URL is checked when it is registered and again before every delivery (a name may
resolve elsewhere later): it must be http or https with a host, and every address the host
resolves to must be public. Private, loopback, link-local (cloud metadata lives there),
multicast, reserved and unspecified addresses are refused unless the host name, or the address,
is on LOYALTY_WEBHOOK_ALLOWED_HOSTS (names, addresses, networks). Redirects are never followed
(a 3xx is a failed attempt), so a public receiver cannot bounce a delivery inward.

Known limit: the name is resolved for the check and again by the HTTP client, so a resolver
that answers differently between the two (DNS rebinding) is not stopped here; an egress proxy
or firewall is the complete answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from gamification.errors import ErrorCode, InvalidInput, Refused

_MAX_URL_LENGTH = 2000


class UnsafeTarget(Refused):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(host: str, address: IPAddress | None, allowed_hosts: Sequence[str]) -> bool:
    for entry in allowed_hosts:
        if entry.lower() == host:
            return True
        if address is None:
            continue
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def parse_target(url: str) -> tuple[str, int]:
    """The URL's host (lower case) and port. Raises InvalidInput(INVALID_WEBHOOK_URL)."""
    if len(url) > _MAX_URL_LENGTH:
        raise InvalidInput(
            f"The URL is longer than {_MAX_URL_LENGTH} characters",
            code=ErrorCode.INVALID_WEBHOOK_URL,
            field="url",
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "The URL must be an http or https URL with a host",
            code=ErrorCode.INVALID_WEBHOOK_URL,
            field="url",
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "The URL must not carry a user name or password",
            code=ErrorCode.INVALID_WEBHOOK_URL,
            field="url",
        )
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone
        addresses.append(ipaddress.ip_address(text))
    return addresses


async def check_target(url: str, allowed_hosts: Sequence[str]) -> None:
    """Raises InvalidInput(INVALID_WEBHOOK_URL) for a malformed URL, and UnsafeTarget
    (WEBHOOK_TARGET_REFUSED) when its host does not resolve or any of its addresses is not
    public and not allow-listed."""
    host, port = parse_target(url)
    if _allowed(host, None, allowed_hosts):
        return
    addresses = await _resolve(host, port)
    if not addresses:
        raise UnsafeTarget(
            "The URL's host does not resolve", code=ErrorCode.WEBHOOK_TARGET_REFUSED, field="url"
        )
    for address in addresses:
        if not _is_public(address) and not _allowed(host, address, allowed_hosts):
            raise UnsafeTarget(
                "The URL's host is a private, loopback or link-local address",
                code=ErrorCode.WEBHOOK_TARGET_REFUSED,
                field="url",
            )
