"""Whose address an attempt counts against: the socket peer, unless the peer is a proxy the
operator named; then the address that proxy saw, from `X-Forwarded-For`.

Anyone can send `X-Forwarded-For`. Believed from everyone on loopback (uvicorn's default,
which Gradio's server kept), it let one local script appear as any number of addresses:
four made-up ones locked every rater out, and the log named the made-up ones. So:

- The server is told to trust no forwarded header (`use_trusted_proxies`, called by app.py
  before Gradio builds its server: uvicorn reads FORWARDED_ALLOW_IPS then), so
  `request.client.host` is always the socket peer.
- `client_address` believes the header only when the peer is in the trusted list
  (app.py `--trusted-proxy CIDR`, env BIMEDIX_TRUSTED_PROXIES), and reads it from the right,
  as each proxy appends the address it saw: the first address not itself a trusted proxy is
  the client (all trusted: the leftmost). What is not an address stops the walk at the
  trusted hop that passed it on, so a typed string never becomes a "client".
- On a Hugging Face Space (SPACE_ID set) with no list given, the private networks are
  trusted: a Space is reached only through Hugging Face's proxy, which connects from one of
  them (10.x was seen) and appends the visitor's address to `X-Forwarded-For`.

Name proxies only, never a network that also holds clients: a client inside a trusted
network can say it is anyone.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Iterable, MutableMapping

log = logging.getLogger("bimedix.arena")

TRUSTED_PROXIES_ENV = "BIMEDIX_TRUSTED_PROXIES"
SERVER_TRUST_ENV = "FORWARDED_ALLOW_IPS"  # uvicorn's list of proxies it believes (default: loopback)
# What a Space's proxy connects from: the private networks (RFC 1918, and IPv6's unique-local).
SPACE_PROXIES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
UNKNOWN_CLIENT = "unknown"
_LONGEST_ENTRY = 64  # "[IPv6]:port" fits; anything longer is not an address
_MOST_HOPS = 32  # entries read from the right: a header of thousands costs no more

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose `X-Forwarded-For` is believed: networks (an address is a /32 or /128)."""

    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, values: Iterable[str]) -> TrustedProxies:
        """From addresses or CIDR networks, each value holding one or several (comma or space
        separated). ValueError naming the first that is neither ("*" included)."""
        networks = []
        for value in values:
            for item in value.replace(",", " ").split():
                try:
                    networks.append(ip_network(item, strict=False))
                except ValueError:
                    raise ValueError(f"not an IP address or network: {item!r} (name each proxy by its address "
                                     "or CIDR network, e.g. 10.0.0.5 or 10.0.0.0/24; never '*')") from None
        return cls(tuple(dict.fromkeys(networks)))

    @classmethod
    def from_environment(cls, environ: MutableMapping[str, str] = os.environ) -> TrustedProxies:
        """BIMEDIX_TRUSTED_PROXIES; else, on a Hugging Face Space, the private networks; else none."""
        return _from_settings(environ.get(TRUSTED_PROXIES_ENV, "").strip(), bool(environ.get("SPACE_ID")))

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The client of a request from `peer` carrying these `X-Forwarded-For` lines."""
        hop = _address(peer)
        if hop is None:
            return peer[:_LONGEST_ENTRY]  # not an IP peer (a test client): as it is
        entries = [entry for line in forwarded_for for entry in line.split(",")][-_MOST_HOPS:]
        for entry in reversed(entries):
            if not self.trusts(hop):
                break
            sent_by = _address(entry)
            if sent_by is None:
                break
            hop = sent_by
        return str(hop)


@functools.lru_cache(maxsize=8)
def _from_settings(configured: str, on_space: bool) -> TrustedProxies:
    if configured:
        return TrustedProxies.parse([configured])
    return TrustedProxies.parse(SPACE_PROXIES) if on_space else TrustedProxies()


def _address(entry: str) -> Address | None:
    """An address from "1.2.3.4", "1.2.3.4:80", "2001:db8::1" or "[2001:db8::1]:80"; None otherwise."""
    entry = entry.strip()
    if len(entry) > _LONGEST_ENTRY:
        return None
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        address = ip_address(entry)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:1.2.3.4 is 1.2.3.4
    return mapped or address


def _forwarded_for(request) -> list[str]:
    """The request's X-Forwarded-For lines, in order (a starlette Headers), or its one value
    (the dict a pickled gr.Request keeps)."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return []
    if hasattr(headers, "getlist"):
        return list(headers.getlist("x-forwarded-for"))
    value = headers.get("x-forwarded-for") if hasattr(headers, "get") else None
    return [value] if isinstance(value, str) else []


def client_address(request, proxies: TrustedProxies | None = None) -> str:
    """The client's address from a `gr.Request` (or anything with `.client.host` and
    `.headers`), believing `X-Forwarded-For` only from `proxies` (default: from the
    environment, see above); "unknown" without a request (a direct call, a test)."""
    host = getattr(getattr(request, "client", None), "host", None) if request is not None else None
    if not host:
        return UNKNOWN_CLIENT
    proxies = TrustedProxies.from_environment() if proxies is None else proxies
    return proxies.client(str(host), _forwarded_for(request) if proxies.networks else ())


def use_trusted_proxies(values: Iterable[str], environ: MutableMapping[str, str] = os.environ) -> TrustedProxies:
    """What app.py does at start, before Gradio builds its server: the proxies named (else
    those of BIMEDIX_TRUSTED_PROXIES, or a Space's) go where `client_address` reads them,
    and the server is told to believe no forwarded header itself. ValueError for a bad one."""
    values = list(values)
    if values:
        named = TrustedProxies.parse(values)
        environ[TRUSTED_PROXIES_ENV] = ",".join(str(network) for network in named.networks)
    proxies = TrustedProxies.from_environment(environ)
    earlier = environ.get(SERVER_TRUST_ENV, "").strip()
    if earlier:
        log.warning("%s=%s is ignored: the app reads X-Forwarded-For itself, from --trusted-proxy / %s only",
                    SERVER_TRUST_ENV, earlier, TRUSTED_PROXIES_ENV)
    environ[SERVER_TRUST_ENV] = ""  # uvicorn: trust nobody's header; request.client.host is the peer
    return proxies
