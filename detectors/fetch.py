"""Fetch a media URL to local scratch safely: http(s) only, no private addresses, bounded size and time.

Every hop (the first request and each redirect) is resolved and checked before connecting, and
the connection goes to the checked address, so DNS re-binding cannot swap in a private address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from detectors.errors import FetchError, ForbiddenURLError, MediaTooLargeError

CLOUD_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_redirects: int = 5
    allow_private: bool = False


def _is_forbidden_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def resolve_checked(url: str, policy: FetchPolicy) -> tuple[str, int, str]:
    """Validate a URL and resolve its host; return (host, port, first allowed IP).

    Raises ``ForbiddenURLError`` for a bad scheme or a private/loopback/link-local/metadata target
    (unless the policy allows private addresses) and ``FetchError`` when the name does not resolve.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenURLError(f"only http and https URLs are accepted, not '{parts.scheme or 'none'}'")
    host = parts.hostname
    if not host:
        raise ForbiddenURLError("the URL has no host")
    if parts.username or parts.password:
        raise ForbiddenURLError("URLs with credentials are not accepted")
    if not policy.allow_private and host.lower().rstrip(".") in CLOUD_METADATA_HOSTS:
        raise ForbiddenURLError(f"refusing to fetch from cloud metadata host '{host}'")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host '{host}': {exc}", url=url) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not policy.allow_private:
        bad = [str(a) for a in addresses if _is_forbidden_ip(a)]
        if bad:
            raise ForbiddenURLError(
                f"refusing to fetch '{host}': it resolves to a private, loopback or link-local address",
                host=host,
            )
    return host, port, str(addresses[0])


def fetch_to_file(url: str, dest: Path, policy: FetchPolicy) -> int:
    """Download ``url`` into ``dest`` following at most ``max_redirects`` checked redirects.

    Returns the number of bytes written. The size cap is enforced while streaming; on any error the
    partial file is removed.
    """
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    current = url
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for _hop in range(policy.max_redirects + 1):
                host, _port, ip = resolve_checked(current, policy)
                parts = urlsplit(current)
                # Connect to the checked IP; keep the Host header (and TLS SNI) for the real name.
                target = current
                extensions = {}
                if parts.scheme == "http":
                    netloc_ip = f"[{ip}]" if ":" in ip else ip
                    target = parts._replace(netloc=f"{netloc_ip}:{parts.port or 80}").geturl()
                else:
                    extensions = {"sni_hostname": host}
                headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "deepfake-detection/0.1"}
                with client.stream("GET", target, headers=headers, extensions=extensions) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError("redirect without a Location header", url=current)
                        current = urljoin(current, location)
                        continue
                    if resp.status_code >= 400:
                        raise FetchError(f"the media URL answered HTTP {resp.status_code}", url=url,
                                         status=resp.status_code)
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise MediaTooLargeError(
                            f"the media is {int(declared)} bytes, over the limit of {policy.max_bytes}",
                            limit=policy.max_bytes,
                        )
                    written = 0
                    with open(dest, "wb") as fh:
                        for chunk in resp.iter_bytes(64 * 1024):
                            written += len(chunk)
                            if written > policy.max_bytes:
                                raise MediaTooLargeError(
                                    f"the media is over the limit of {policy.max_bytes} bytes",
                                    limit=policy.max_bytes,
                                )
                            fh.write(chunk)
                    return written
            raise FetchError(f"more than {policy.max_redirects} redirects", url=url)
    except (FetchError, MediaTooLargeError):
        dest.unlink(missing_ok=True)
        raise
    except httpx.TimeoutException as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"timed out fetching the media URL ({type(exc).__name__})", url=url) from exc
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"cannot fetch the media URL: {exc}", url=url) from exc
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
