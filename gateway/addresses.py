"""Which network destinations the gateway may fetch from: public addresses, plus an allow-list.

A URL given by a client must not make the gateway reach its own host, its private
network or the cloud metadata service (SSRF). Every address a host name resolves to is
checked, IPv4 addresses embedded in IPv6 ones (mapped, 6to4, Teredo, NAT64) included.
GATEWAY_FETCH_ALLOW opens trusted destinations: host names, addresses and CIDRs,
comma-separated (`127.0.0.1,10.0.0.0/8,images.internal`), or `*` for any.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.errors import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: Address) -> str | None:
    """Why the gateway must not connect to `address`, or None when it is a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            problem = address_problem(inner)
            return f"{problem} inside an IPv6 address" if problem else None
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in SHARED, "a CGNAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses always; the allow-list's hosts and networks on top."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    allow_all: bool = False

    @classmethod
    def parse(cls, text: str) -> AddressPolicy:
        """From GATEWAY_FETCH_ALLOW's comma-separated hosts, addresses and CIDRs."""
        entries = [entry.strip().lower() for entry in text.split(",") if entry.strip()]
        if "*" in entries:
            return cls(allow_all=True)
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry or ":" in entry or not entry.replace("-", "").replace(".", ""):
                    raise ConfigError(
                        f"GATEWAY_FETCH_ALLOW: {entry!r} is neither a host name nor a CIDR"
                    ) from None
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return self.allow_all or host.lower().rstrip(".") in self.hosts

    def problem(self, address: Address) -> str | None:
        """Why `address` may not be fetched from, or None."""
        if self.allow_all or any(address in network for network in self.networks):
            return None
        return address_problem(address)
