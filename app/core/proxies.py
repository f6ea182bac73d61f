"""Which reverse proxies are believed: the client address and scheme behind them.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are anyone's to send; they say something only when
the peer that sent them is one of the deployment's own proxies (``Settings.trusted_proxies``).
``sentinelles serve`` gives uvicorn the same list, so uvicorn rewrites the peer and scheme first;
the functions here do the same for any other server (or none), and are idempotent after it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(allow: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allow if entry != "*")


def is_trusted(host: str | None, allow: tuple[str, ...]) -> bool:
    """Whether ``host`` (an IP address as text) is one of the proxies ``allow`` names."""
    if not allow or host is None:
        return False
    if "*" in allow:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(allow))


def forwarded_client(peer: str | None, forwarded_for: str, allow: tuple[str, ...]) -> str | None:
    """The client's address: ``peer``, unless it is a trusted proxy; then the last address of
    ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the address it
    was reached from, so what a client wrote itself can only stand before that)."""
    if not forwarded_for or not is_trusted(peer, allow):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, allow):
            return hop
    return hops[0] if hops else peer


def forwarded_https(
    scheme: str, peer: str | None, forwarded_proto: str | None, allow: tuple[str, ...]
) -> bool:
    """Whether the client reached the service over HTTPS (its own scheme, or the one a trusted
    proxy says it received)."""
    if scheme in ("https", "wss"):
        return True
    if forwarded_proto is None or not is_trusted(peer, allow):
        return False
    return forwarded_proto.rsplit(",", 1)[-1].strip().lower() == "https"
