"""Fetch a media URL to local scratch safely: http(s) only, no private addresses, bounded size and time.

Every hop (the first request and each redirect) is parsed, resolved and checked before anything
connects, and the connection goes to the checked IP address (for https too: the real name is
kept for the Host header, TLS SNI and certificate check), so a DNS answer that changes between
the check and the connect (re-binding) cannot swap in a private address. Bodies are taken as sent
(``Accept-Encoding: identity``, compressed bodies refused) so the size cap counts real bytes and a
gzip bomb cannot expand past it; the cap is enforced while streaming, whatever Content-Length says.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

from detectors.errors import FetchError, ForbiddenURLError, MediaTooLargeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints: refused even when private addresses are allowed (a media
# source never lives there, and they hand out credentials).
CLOUD_METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
CLOUD_METADATA_IPS = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "deepfake-detection/0.1"


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one download. ``total_timeout`` bounds the whole fetch (all redirects and the body),
    so a server that drips a byte at a time within ``read_timeout`` still cannot hold a worker."""

    max_bytes: int
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 120.0
    max_redirects: int = 5
    allow_private: bool = False
    ca_file: str | None = None  # extra CA bundle for https (private CAs, tests); None = system CAs


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), which is where it really goes."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden_ip(ip: IPAddress) -> bool:
    """True for every address that is not plain public unicast: private, loopback, link-local,
    shared (CGNAT), multicast, reserved, unspecified, documentation, and IPv6 forms that embed one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return True  # a tunnel to an arbitrary IPv4 host: no reason to fetch media through it
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_forbidden_ip(inner)
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_ADDRESS_SPACE)
    )


def is_metadata_ip(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip
    return ip in CLOUD_METADATA_IPS


@dataclass(frozen=True)
class Target:
    """One checked hop: where to connect (an IP) and the names to present to the server."""

    url: str  # the user-visible URL of this hop
    scheme: str
    host: str  # ASCII (IDNA) host name, or the IP literal
    port: int
    ip: str
    host_header: str

    def connect_url(self) -> str:
        """The same URL with the checked IP in place of the name (fragment dropped)."""
        parts = urlsplit(self.url)
        netloc = f"[{self.ip}]" if ":" in self.ip else self.ip
        return SplitResult(self.scheme, f"{netloc}:{self.port}", parts.path or "/", parts.query, "").geturl()


def _parse(url: str) -> tuple[SplitResult, str, int]:
    """Scheme, host and port checks that need no network; returns (parts, ascii host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForbiddenURLError(f"the URL is not valid: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ForbiddenURLError(f"only http and https URLs are accepted, not '{parts.scheme or 'none'}'")
    if parts.username is not None or parts.password is not None:
        raise ForbiddenURLError("URLs with credentials are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ForbiddenURLError("the URL has no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ForbiddenURLError(f"the host name is not valid: {exc}") from exc
    if any(c in host for c in " /\\@#?%\x00") or any(ord(c) < 0x21 for c in host):
        raise ForbiddenURLError("the host name is not valid")
    return parts, host.lower(), port or (443 if parts.scheme == "https" else 80)


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    """getaddrinfo with a deadline (the C resolver has none we control); the thread is left to finish."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="fetch-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise FetchError(f"timed out resolving host '{host}'", host=host)
    if "error" in box:
        raise FetchError(f"cannot resolve host '{host}'", host=host) from box["error"]  # type: ignore[misc]
    addresses: list[IPAddress] = []
    for info in box.get("infos", []):  # type: ignore[union-attr]
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except ValueError:
            continue
    if not addresses:
        raise FetchError(f"host '{host}' has no usable address", host=host)
    return addresses


def resolve_checked(url: str, policy: FetchPolicy, resolve_timeout: float | None = None) -> Target:
    """Validate a URL and resolve its host; return the hop to connect to.

    Raises ``ForbiddenURLError`` for a bad scheme, credentials, a cloud-metadata host or address,
    or (unless the policy allows private addresses) a name with ANY private/loopback/link-local
    address; ``FetchError`` when the name does not resolve in time.
    """
    parts, host, port = _parse(url)
    if host in CLOUD_METADATA_HOSTS:
        raise ForbiddenURLError(f"refusing to fetch from cloud metadata host '{host}'", host=host)
    addresses = _resolve(host, port, resolve_timeout or policy.connect_timeout)
    if any(is_metadata_ip(a) for a in addresses):
        raise ForbiddenURLError(f"refusing to fetch '{host}': it resolves to a cloud metadata address", host=host)
    if not policy.allow_private and any(is_forbidden_ip(a) for a in addresses):
        # The address itself is not echoed: it would let a caller map internal names.
        raise ForbiddenURLError(
            f"refusing to fetch '{host}': it resolves to a private, loopback or link-local address", host=host
        )
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if parts.port is None else f"{bracketed}:{parts.port}"
    return Target(url, parts.scheme, host, port, str(addresses[0]), host_header)


def _check_deadline(deadline: float, url: str, policy: FetchPolicy) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"fetching the media URL took longer than {policy.total_timeout:.0f} s", url=url)
    return remaining


def _too_large(policy: FetchPolicy, size: int | None = None) -> MediaTooLargeError:
    if size is None:
        return MediaTooLargeError(f"the media is over the limit of {policy.max_bytes} bytes", limit=policy.max_bytes)
    return MediaTooLargeError(
        f"the media is {size} bytes, over the limit of {policy.max_bytes}", size=size, limit=policy.max_bytes
    )


def fetch_to_file(url: str, dest: Path, policy: FetchPolicy) -> int:
    """Download ``url`` into ``dest`` following at most ``max_redirects`` checked redirects.

    Returns the number of bytes written. On any error (including cancellation) ``dest`` is removed.
    """
    deadline = time.monotonic() + policy.total_timeout
    current = url
    verify: str | bool = policy.ca_file or True
    try:
        with httpx.Client(
            follow_redirects=False,
            trust_env=False,  # no proxies or netrc from the environment
            verify=verify,
            limits=httpx.Limits(max_keepalive_connections=0),  # one checked connection per hop
        ) as client:
            for _hop in range(policy.max_redirects + 1):
                remaining = _check_deadline(deadline, url, policy)
                target = resolve_checked(current, policy, min(policy.connect_timeout, remaining))
                remaining = _check_deadline(deadline, url, policy)
                timeout = httpx.Timeout(min(policy.read_timeout, remaining),
                                        connect=min(policy.connect_timeout, remaining))
                headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
                extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
                with client.stream("GET", target.connect_url(), headers=headers, extensions=extensions,
                                   timeout=timeout) as resp:
                    if 300 <= resp.status_code < 400 and resp.status_code != 304:
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {resp.status_code} redirect without a Location header", url=url)
                        current = urljoin(current, location.strip())
                        continue
                    if resp.status_code >= 300:
                        raise FetchError(f"the media URL answered HTTP {resp.status_code}", url=url,
                                         status=resp.status_code)
                    return _save_body(resp, dest, policy, deadline, url)
            raise FetchError(f"more than {policy.max_redirects} redirects", url=url)
    except (FetchError, MediaTooLargeError):
        dest.unlink(missing_ok=True)
        raise
    except httpx.TimeoutException as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"timed out fetching the media URL ({type(exc).__name__})", url=url) from exc
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"cannot fetch the media URL: {type(exc).__name__}: {exc}", url=url) from exc
    except (httpx.InvalidURL, httpx.StreamError, UnicodeError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"cannot fetch the media URL: {type(exc).__name__}: {exc}", url=url) from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _save_body(resp: httpx.Response, dest: Path, policy: FetchPolicy, deadline: float, url: str) -> int:
    """Stream the body as sent into ``dest``; refuse it as soon as it passes the size cap."""
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(f"the media URL sent a '{encoding}'-encoded body; only unencoded media is accepted",
                         url=url)
    declared = resp.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > policy.max_bytes:
        raise _too_large(policy, int(declared))
    written = 0
    with open(dest, "wb") as fh:
        for chunk in resp.iter_raw():  # each network read as it arrives: the deadline is checked per read
            written += len(chunk)
            if written > policy.max_bytes:
                raise _too_large(policy)
            fh.write(chunk)
            _check_deadline(deadline, url, policy)
    return written
