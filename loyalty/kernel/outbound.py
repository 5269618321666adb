"""Outbound HTTP to addresses staff typed in (webhook endpoints), checked at connect time.

A URL from the console must not reach the program's own network: the database on
127.0.0.1:5432, a cloud's metadata service on 169.254.169.254, the office LAN. Checking
the URL's text when it is saved is not enough (a public-looking name can resolve to a
private address, today or after the next DNS change), so `post()` resolves the name
itself when it connects, refuses unless every address it resolves to is public, and
connects to the checked address (the Host header, TLS SNI and certificate check use the
name). Redirects are not followed. Only https, unless settings.CARAT_WEBHOOK_ALLOW_HTTP
(default: on only with DEBUG). Networks in settings.CARAT_WEBHOOK_ALLOWED_NETWORKS (CIDRs,
default none) are allowed on purpose, e.g. an ERP on the company's private network.
"""

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from .errors import DomainError

RESPONSE_EXCERPT = 200  # characters of the receiver's answer kept in the delivery log


class UnsafeDestination(DomainError):
    code = "unsafe_destination"


def _allowed_networks() -> list:
    return [
        ipaddress.ip_network(n, strict=False)
        for n in getattr(settings, "CARAT_WEBHOOK_ALLOWED_NETWORKS", [])
    ]


def address_is_public(address: str) -> bool:
    """True for a global unicast address (or one in CARAT_WEBHOOK_ALLOWED_NETWORKS): not
    loopback, private, link-local, multicast, unspecified, reserved or shared."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(ip in network for network in _allowed_networks()):
        return True
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def check_url(url: str) -> tuple[str, str, int]:
    """The URL's scheme, host and port, if the scheme is allowed and the host is a name or
    a public address (the addresses a name resolves to are checked when connecting)."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.CARAT_WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeDestination(_("The address must start with https://."), field="url")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeDestination(_("The port of this address is not valid."), field="url") from exc
    if not host:
        raise UnsafeDestination(_("The address has no host name."), field="url")
    port = port or (443 if parts.scheme == "https" else 80)
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith((".localhost", ".localdomain")):
        raise UnsafeDestination(_not_public(host), field="url")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass  # a name: its addresses are checked when connecting (resolve_public)
    else:
        if not address_is_public(host):
            raise UnsafeDestination(_not_public(host), field="url")
    return parts.scheme, host, port


def _not_public(host: str) -> str:
    return _(
        "%(host)s is not a public address (loopback, private, link-local, multicast or "
        "reserved addresses are refused)."
    ) % {"host": host}


def resolve_public(host: str, port: int) -> list[tuple]:
    """Every address the name resolves to, refused unless all of them are public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}") from exc
    if not infos or not all(address_is_public(info[4][0]) for info in infos):
        raise UnsafeDestination(_not_public(host), field="url")
    return infos


def _connect_checked(host: str, port: int):
    """A socket.create_connection that only ever connects to checked public addresses."""

    def create_connection(_address, timeout=None, source_address=None):
        error = None
        for family, socktype, proto, _name, sockaddr in resolve_public(host, port):
            sock = socket.socket(family, socktype, proto)
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or OSError(f"cannot connect to {host}")

    return create_connection


def post(url: str, *, body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    """POST to a checked public address; (status, the first RESPONSE_EXCERPT characters of
    the answer). Raises UnsafeDestination for a refused address, OSError when the
    connection fails. A redirect is an answer like any other (not followed)."""
    scheme, host, port = check_url(url)
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn._create_connection = _connect_checked(host, port)  # the Host header, SNI: the name
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT).decode(errors="replace")
        return response.status, excerpt[:RESPONSE_EXCERPT]
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer from {host}: {type(exc).__name__}") from exc
    finally:
        conn.close()
