"""Where a webhook may go: http(s) URLs whose host resolves to public addresses only.

A private, loopback, link-local or otherwise reserved address is refused unless the
``OMS_WEBHOOK_ALLOW_NETWORKS`` setting names a network holding it, so that a subscription
cannot be used to probe the network the ledger runs in. The host is checked when the
subscription is made and again, resolved afresh, before every attempt (a name may change
what it points at); redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from api.errors import WebhookTargetRefused

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(setting: str) -> tuple[Network, ...]:
    """``OMS_WEBHOOK_ALLOW_NETWORKS``: comma-separated networks (``127.0.0.0/8, 10.2.0.0/16``)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def host_of(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL with no credentials in it; WebhookTargetRefused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise WebhookTargetRefused(f"not a URL: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetRefused("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise WebhookTargetRefused("a webhook URL carries no user name or password; sign with the secret instead")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def is_public(address: Address) -> bool:
    return address.is_global and not address.is_multicast


def _unmapped(address: Address) -> Address:
    """An IPv4 address written as IPv6 (``::ffff:10.0.0.1``) is judged as the IPv4 one it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_addresses(host: str, addresses: Iterable[str], allowed: Sequence[Network]) -> None:
    found = [_unmapped(ipaddress.ip_address(a.split("%", 1)[0])) for a in addresses]
    if not found:
        raise WebhookTargetRefused(f"{host} does not resolve")
    for address in found:
        if not is_public(address) and not any(address in network for network in allowed):
            raise WebhookTargetRefused(
                f"{host} resolves to {address}, which is not a public address; allow its network in"
                " OMS_WEBHOOK_ALLOW_NETWORKS to send there",
                address=str(address),
            )


def check(url: str, allowed: Sequence[Network]) -> None:
    """Refuse ``url`` unless every address its host resolves to may be sent to."""
    host, port = host_of(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # UnicodeError: a name IDNA cannot encode (a label over 63)
        raise WebhookTargetRefused(f"{host} does not resolve: {error}") from None
    check_addresses(host, [str(info[4][0]) for info in infos], allowed)
