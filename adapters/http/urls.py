"""Which webhook URLs the adapter may call: checked at enrollment and again at connect time.

Rules (``UrlPolicy``): scheme ``https`` (``http`` too only when ``require_https`` is
off, outside production); a host; no user info (credentials belong in the signing
secret, not in a URL that is stored and displayed); no fragment; and every address the
host resolves to must be public — loopback, private (RFC 1918, ULA), link-local
(including 169.254.169.254, the cloud metadata service), multicast, shared (CGNAT),
reserved and unspecified addresses are refused, IPv4 and IPv6 alike, including IPv4
embedded in IPv6 (mapped, 6to4, NAT64) — unless ``allow_hosts`` admits the host by
name or the address by CIDR.

Enrollment resolves the host once (``UrlPolicy.check``), but a name can later resolve
elsewhere (DNS rebinding). ``GuardedResolver`` therefore checks the addresses again
whenever the adapter's aiohttp connector resolves a name, and the connector connects to
exactly the checked addresses; IP literals are checked before each send
(``UrlPolicy.check_literal``). Redirects are never followed (``allow_redirects=False``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from adapters.http.errors import WebhookUrlError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]
"""Blocking look-up of a host's addresses for enrollment-time checks: (host, port) -> ips."""

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address ("loopback", "private", ...), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_kind(embedded)
        if ip.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for kind, matched in checks:
        if matched:
            return kind
    return None if ip.is_global else "non-public"


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is a literal one (an IPv6 zone id is dropped)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (blocking ``getaddrinfo``), in resolver order."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlError(f"host {host!r} does not resolve") from exc
    return _addresses(info[4][0] for info in infos)


def _addresses(raw: Iterable[Any]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for value in raw:
        ip = parse_ip(str(value))
        if ip is not None and ip not in found:
            found.append(ip)
    return found


def check_url_form(url: str) -> URL:
    """The policy-independent rules: parsable, http(s), a host, no user info, no fragment."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        # yarl is the parser aiohttp sends with: what is checked is what is requested.
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise WebhookUrlError("not a valid URL") from exc
    if parsed.scheme not in _DEFAULT_PORTS:
        raise WebhookUrlError("the URL scheme must be https (or http outside production)")
    if not parsed.raw_host:
        raise WebhookUrlError("the URL has no host")
    if parsed.user is not None or parsed.password is not None:
        raise WebhookUrlError(
            "the URL must not contain user info; the endpoint authenticates requests "
            "by their HMAC signature"
        )
    if parsed.fragment:
        raise WebhookUrlError("the URL must not contain a fragment")
    return parsed


def origin_of(url: str) -> str:
    """``scheme://host:port`` of a URL: what logs and outcome details may name (a path or
    query can hold a token, so they are never logged)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "<invalid URL>"
    host = parsed.raw_host or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parsed.scheme}://{host}:{parsed.port}"


class UrlPolicy:
    """The URL rules of one deployment.

    ``allow_hosts`` entries are CIDRs or IP addresses (``127.0.0.0/8``, ``::1``), which
    admit the addresses they contain, or host names (``localhost``, matched exactly,
    case-insensitively), which admit whatever the name resolves to. The default policy
    is production's: https only, nothing non-public admitted.
    """

    def __init__(self, *, require_https: bool = True, allow_hosts: Iterable[str] = ()) -> None:
        self.require_https = require_https
        self.allow_hosts = tuple(allow_hosts)
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in self.allow_hosts:
            text = entry.strip()
            if not text:
                raise ValueError("an empty allow_hosts entry")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                names.add(_normal_host(text))
        self._networks = tuple(networks)
        self._names = frozenset(names)

    def __repr__(self) -> str:
        return f"UrlPolicy(require_https={self.require_https}, allow_hosts={self.allow_hosts!r})"

    def admits_address(self, host: str, ip: IPAddress) -> bool:
        """Whether a connection to ``ip`` (that ``host`` resolved to) is allowed."""
        if address_kind(ip) is None or _normal_host(host) in self._names:
            return True
        return any(ip.version == net.version and ip in net for net in self._networks)

    def check_form(self, url: str) -> URL:
        """``check_url_form`` plus the https requirement; no DNS look-up."""
        parsed = check_url_form(url)
        if self.require_https and parsed.scheme != "https":
            raise WebhookUrlError("the URL must use https")
        return parsed

    def check_addresses(self, host: str, addresses: Iterable[IPAddress]) -> None:
        found = False
        for ip in addresses:
            found = True
            if not self.admits_address(host, ip):
                # The address itself is not echoed: enrollment errors reach the enterprise,
                # and must not become a way to map the service's internal network.
                raise WebhookUrlError(
                    f"host {host!r} resolves to a {address_kind(ip)} address, which is "
                    "refused unless the adapter's allow_hosts admits it"
                )
        if not found:
            raise WebhookUrlError(f"host {host!r} resolves to no address")

    def check(self, url: str, resolve: Resolver = resolve_host) -> None:
        """Every rule, resolving the host with ``resolve`` (enrollment time)."""
        parsed = self.check_form(url)
        host = parsed.raw_host or ""
        self.check_addresses(host, resolve(host, parsed.port or _DEFAULT_PORTS[parsed.scheme]))

    def check_literal(self, url: str) -> None:
        """Send-time rules without DNS: ``check_form``, and an IP-literal host must be
        admitted (names are checked by ``GuardedResolver`` when connecting)."""
        parsed = self.check_form(url)
        host = parsed.raw_host or ""
        literal = parse_ip(host)
        if literal is not None:
            self.check_addresses(host, [literal])


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses names resolving to addresses the policy does not admit.

    Every address of the answer is checked (a name resolving to one public and one
    private address is refused); aiohttp then connects to exactly these addresses and
    verifies the TLS certificate against the name. aiohttp does not consult a resolver
    for IP literals: ``UrlPolicy.check_literal`` covers those before sending.
    """

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self.policy.check_addresses(host, _addresses(r["host"] for r in results))
        return results

    async def close(self) -> None:
        await self._inner.close()
