"""SSRF-safe fetching of media given by `uri` (only when `allow_remote_media` is on; off by default).

- scheme http/https only; the host must be in `remote_media_allowlist` (exact host names);
- the host is resolved once and every address must be public (no loopback, private, link-local, multicast,
  reserved, unspecified, or IPv4-mapped private addresses), and the connection goes to that vetted address
  (no second DNS lookup, so DNS rebinding cannot swap in an internal address);
- no redirects are followed; a size cap is enforced while streaming; connect + read timeout;
- failures raise MediaError with `fetch_failed`, `uri_not_allowed` or `uri_private_address`.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlparse

from monitor.media import MediaError


def _public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return not (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_reserved
                or addr.is_unspecified or getattr(addr, "is_site_local", False))


def resolve_public(host: str, port: int, allow_private: bool = False) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MediaError("fetch_failed", f"cannot resolve {host!r}: {exc}") from exc
    ips = sorted({info[4][0] for info in infos})
    if not ips:
        raise MediaError("fetch_failed", f"no address for {host!r}")
    bad = [ip for ip in ips if not _public(ip)]
    if bad and not allow_private:
        raise MediaError("uri_private_address", f"{host!r} resolves to non-public address(es) {bad}")
    return ips[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, ip: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def uri_allowed(uri: str, allowlist: list[str] | tuple[str, ...]) -> bool:
    """The one allowlist rule (decode-time validation and fetch use it both): http(s) and a host equal to an
    allowlist entry, case-insensitively (host names are case-insensitive; urlparse lower-cases the URI's host)."""
    u = urlparse(uri)
    host = (u.hostname or "").lower()
    return u.scheme in ("http", "https") and bool(host) and host in {h.lower().strip() for h in allowlist}


def fetch(uri: str, allowlist: list[str] | tuple[str, ...], max_bytes: int, timeout_s: float = 5.0,
          allow_private: bool = False) -> bytes:
    u = urlparse(uri)
    host = (u.hostname or "").lower()
    if not uri_allowed(uri, allowlist):
        raise MediaError("uri_not_allowed", f"{uri[:200]!r}: scheme or host not allowed")
    if u.username or u.password:
        raise MediaError("uri_not_allowed", "credentials in the uri are not allowed")
    port = u.port or (443 if u.scheme == "https" else 80)
    ip = resolve_public(host, port, allow_private)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = _PinnedHTTPSConnection(host, ip, port, timeout_s)
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Host": host if u.port is None else f"{host}:{port}",
                                           "User-Agent": "sentiment-monitor/1", "Accept": "image/*, audio/*"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise MediaError("fetch_failed", f"HTTP {resp.status} from {host} (redirects are not followed)")
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise MediaError("media_too_large", f"{declared} bytes declared > {max_bytes}")
        body = resp.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise MediaError("media_too_large", f"more than {max_bytes} bytes")
        return body
    except (OSError, http.client.HTTPException) as exc:
        raise MediaError("fetch_failed", f"{type(exc).__name__}: {exc}"[:200]) from exc
    finally:
        conn.close()
