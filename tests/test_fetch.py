"""URL fetching against hostile servers and hostile DNS, on loopback only.

Servers run on 127.0.0.1 (and 127.0.0.2, which some tests declare "public" by patching the
address check, so a real connection can be made to an address the policy allows). Name
resolution is monkeypatched to simulate public → private re-binding.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from detectors import fetch
from detectors.errors import FetchError, ForbiddenURLError, MediaTooLargeError
from detectors.fetch import FetchPolicy, fetch_to_file, is_forbidden_ip, resolve_checked
from tests.hardening_app import http_server, ok, raw_response, redirect

BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10 kB, content does not matter here
LOCAL = FetchPolicy(max_bytes=100_000, connect_timeout=2, read_timeout=2, total_timeout=10, allow_private=True)
STRICT = FetchPolicy(max_bytes=100_000, connect_timeout=2, read_timeout=2, total_timeout=10)
PUBLIC_STANDIN = "127.0.0.2"  # loopback address the tests treat as a public one


@pytest.fixture()
def dest(tmp_path) -> Path:
    return tmp_path / "download.bin"


@pytest.fixture()
def dns(monkeypatch):
    """Fake DNS: ``dns[name] = [ip, ...]`` or a callable returning the list (called per lookup).
    IP literals and other names go to the real resolver. ``dns.calls`` lists names looked up."""
    real = socket.getaddrinfo

    class FakeDNS(dict):
        calls: list[str] = []

    table = FakeDNS()
    table.calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in table:
            table.calls.append(host)
            value = table[host]
            ips = value() if callable(value) else value
            out = []
            for ip in ips:
                if ":" in ip:
                    out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port or 0, 0, 0)))
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0)))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture()
def public_standin(monkeypatch):
    """Treat 127.0.0.2 as a public address; every other address keeps the real check."""
    real = fetch.is_forbidden_ip
    monkeypatch.setattr(fetch, "is_forbidden_ip", lambda ip: False if str(ip) == PUBLIC_STANDIN else real(ip))


# --- addresses and URLs refused before any connection -------------------------------------------


@pytest.mark.parametrize("url", [
    "ftp://example.com/a.png", "file:///etc/passwd", "gopher://example.com/", "data:image/png;base64,AAAA",
    "javascript:alert(1)", "//example.com/a.png", "example.com/a.png", "http:///a.png",
])
def test_only_http_and_https_with_a_host(url, dest):
    with pytest.raises(ForbiddenURLError):
        fetch_to_file(url, dest, STRICT)
    assert not dest.exists()


@pytest.mark.parametrize("url", ["http://user:pw@example.com/a.png", "http://user@example.com/a.png"])
def test_credentials_in_url_refused(url, dest):
    with pytest.raises(ForbiddenURLError, match="credentials"):
        fetch_to_file(url, dest, STRICT)


@pytest.mark.parametrize("url", ["http://example.com:99999/a.png", "http://example.com:abc/a.png",
                                 "http://[::1/a.png"])
def test_malformed_url_is_a_typed_error(url, dest):
    with pytest.raises(ForbiddenURLError):
        fetch_to_file(url, dest, STRICT)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1.2.3", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.1.1", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.10",
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f.1",  # 127.0.0.1 in inet_aton's hex shorthand
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[fe80::1]", "[fc00::1]", "[fd12:3456::1]",
    "[64:ff9b::7f00:1]",  # NAT64 form of 127.0.0.1
    "[2002:7f00:1::1]",  # 6to4 form of 127.0.0.1
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[ff02::1]",
])
def test_private_loopback_link_local_and_special_literals_refused(host, dest):
    with pytest.raises(ForbiddenURLError, match="private, loopback or link-local"):
        fetch_to_file(f"http://{host}/a.png", dest, STRICT)
    assert not dest.exists()


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"])
def test_public_addresses_pass_the_check(addr):
    assert not is_forbidden_ip(ipaddress.ip_address(addr))


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                                 "http://100.100.100.200/", "http://[::ffff:169.254.169.254]/",
                                 "http://metadata.google.internal/computeMetadata/v1/", "http://metadata/",
                                 "http://METADATA.google.internal./"])
def test_cloud_metadata_refused_even_when_private_is_allowed(url, dest, dns):
    dns["metadata.google.internal"] = ["169.254.169.254"]
    dns["metadata"] = ["169.254.169.254"]
    with pytest.raises(ForbiddenURLError, match="metadata"):
        fetch_to_file(url, dest, LOCAL)


def test_name_with_any_private_address_refused(dns, dest):
    dns["mixed.example"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(ForbiddenURLError):
        fetch_to_file("http://mixed.example/a.png", dest, STRICT)


def test_unresolvable_name_is_fetch_error(dns, dest):
    def fail() -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    dns["nowhere.example"] = fail
    with pytest.raises(FetchError, match="cannot resolve") as info:
        fetch_to_file("http://nowhere.example/a.png", dest, STRICT)
    assert not isinstance(info.value, ForbiddenURLError)


def test_hanging_dns_times_out(dns, dest):
    def slow() -> list[str]:
        time.sleep(2)
        return ["93.184.216.34"]

    dns["slow-dns.example"] = slow
    start = time.monotonic()
    with pytest.raises(FetchError, match="timed out resolving"):
        fetch_to_file("http://slow-dns.example/a.png", dest, FetchPolicy(max_bytes=10, connect_timeout=0.3))
    assert time.monotonic() - start < 1.5


# --- DNS re-binding -----------------------------------------------------------------------------


def test_rebinding_after_the_check_cannot_reach_the_private_server(dns, public_standin, dest):
    """The name is checked once per hop and the connection goes to the checked address: a resolver
    that answers "public" to the check and "private" afterwards never gets the private server hit."""
    with http_server({"/a.png": ok(b"PUBLIC" + BODY)}, host=PUBLIC_STANDIN) as (pub, pub_log), \
            http_server({"/a.png": ok(b"SECRET")}) as (sec, sec_log):
        answers = iter([[PUBLIC_STANDIN]])
        dns["rebind.example"] = lambda: next(answers, ["127.0.0.1"])
        port = pub.rsplit(":", 1)[1]
        n = fetch_to_file(f"http://rebind.example:{port}/a.png", dest, STRICT)
    assert dest.read_bytes().startswith(b"PUBLIC") and n == len(b"PUBLIC" + BODY)
    assert dns.calls == ["rebind.example"]  # resolved once; httpx never resolved it again
    assert sec_log.requests == [] and pub_log.paths() == ["/a.png"]
    assert pub_log.requests[0][1]["host"] == f"rebind.example:{port}"  # the name, not the IP


def test_rebinding_on_a_redirect_is_refused(dns, public_standin, dest):
    """A redirect back to the same name is resolved again; now private, so it is refused."""
    with http_server({"/secret": ok(b"SECRET")}) as (_sec, sec_log):
        holder: dict[str, str] = {}
        with http_server({"/a.png": redirect(lambda: holder["next"])}, host=PUBLIC_STANDIN) as (pub, pub_log):
            port = pub.rsplit(":", 1)[1]
            sec_port = _sec.rsplit(":", 1)[1]
            holder["next"] = f"http://rebind.example:{sec_port}/secret"
            answers = iter([[PUBLIC_STANDIN]])
            dns["rebind.example"] = lambda: next(answers, ["127.0.0.1"])
            with pytest.raises(ForbiddenURLError):
                fetch_to_file(f"http://rebind.example:{port}/a.png", dest, STRICT)
    assert sec_log.requests == [] and pub_log.paths() == ["/a.png"]
    assert not dest.exists()


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["http://127.0.0.1:{sec}/secret", "http://[::ffff:127.0.0.1]:{sec}/secret",
                                    "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
                                    "http://localhost:{sec}/secret", "ftp://127.0.0.1/x"])
def test_redirect_to_a_forbidden_target_is_refused(target, public_standin, dest):
    with http_server({"/secret": ok(b"SECRET")}) as (sec, sec_log):
        sec_port = sec.rsplit(":", 1)[1]
        routes = {"/a.png": redirect("/hop"), "/hop": redirect(target.format(sec=sec_port), status=307)}
        with http_server(routes, host=PUBLIC_STANDIN) as (pub, pub_log):
            with pytest.raises(ForbiddenURLError):
                fetch_to_file(f"{pub}/a.png", dest, STRICT)
    assert sec_log.requests == []
    assert pub_log.paths() == ["/a.png", "/hop"]
    assert not dest.exists()


def test_redirect_chain_within_the_limit_is_followed(dest):
    routes = {"/0": redirect("/1", 301), "/1": redirect("/2", 302), "/2": redirect("/3", 303),
              "/3": redirect("/4", 307), "/4": redirect("/final", 308), "/final": ok(BODY)}
    with http_server(routes) as (base, log):
        assert fetch_to_file(f"{base}/0", dest, LOCAL) == len(BODY)
    assert dest.read_bytes() == BODY and log.paths() == ["/0", "/1", "/2", "/3", "/4", "/final"]


def test_too_many_redirects(dest):
    routes = {f"/{i}": redirect(f"/{i + 1}") for i in range(10)}
    with http_server(routes) as (base, log):
        with pytest.raises(FetchError, match="more than 3 redirects"):
            fetch_to_file(f"{base}/0", dest, FetchPolicy(max_bytes=1000, max_redirects=3, allow_private=True))
    assert len(log.requests) == 4 and not dest.exists()


def test_redirect_loop_is_bounded(dest):
    with http_server({"/loop": redirect("/loop")}) as (base, log):
        with pytest.raises(FetchError, match="redirects"):
            fetch_to_file(f"{base}/loop", dest, LOCAL)
    assert len(log.requests) == LOCAL.max_redirects + 1


def test_redirect_without_location(dest):
    with http_server({"/a": lambda req: raw_response(req, 302, {"Content-Length": "0"})}) as (base, _):
        with pytest.raises(FetchError, match="without a Location"):
            fetch_to_file(f"{base}/a", dest, LOCAL)


@pytest.mark.parametrize("status", [404, 403, 500, 204])
def test_http_errors_are_fetch_errors(status, dest):
    with http_server({"/a": lambda req: raw_response(req, status, {"Content-Length": "0"})}) as (base, _):
        if status == 204:
            assert fetch_to_file(f"{base}/a", dest, LOCAL) == 0  # empty: the sniffer refuses it later
            return
        with pytest.raises(FetchError, match=str(status)) as info:
            fetch_to_file(f"{base}/a", dest, LOCAL)
    assert info.value.details["status"] == status and not dest.exists()


# --- size ---------------------------------------------------------------------------------------


def test_declared_length_over_the_cap_is_refused_before_the_body(dest):
    def big(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": str(10**12)}, b"x" * 1000)

    with http_server({"/big": big}) as (base, _):
        with pytest.raises(MediaTooLargeError) as info:
            fetch_to_file(f"{base}/big", dest, LOCAL)
    assert info.value.http_status == 413 and info.value.details["limit"] == LOCAL.max_bytes
    assert not dest.exists()


def test_chunked_body_over_the_cap_is_cut_while_streaming(dest):
    sent = {"bytes": 0}

    def chunked(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Transfer-Encoding": "chunked"})
        chunk = b"z" * 8192
        for _ in range(1000):  # 8 MB offered; the client must stop after ~100 kB
            req.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent["bytes"] += len(chunk)
        req.wfile.write(b"0\r\n\r\n")

    with http_server({"/stream": chunked}) as (base, _):
        with pytest.raises(MediaTooLargeError):
            fetch_to_file(f"{base}/stream", dest, LOCAL)
    assert not dest.exists()


def test_small_declared_length_with_a_longer_body_reads_only_the_declared_bytes(dest):
    def liar(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": "100"}, b"a" * 100 + b"b" * 500_000)

    with http_server({"/lie": liar}) as (base, _):
        assert fetch_to_file(f"{base}/lie", dest, LOCAL) == 100
    assert dest.read_bytes() == b"a" * 100


def test_declared_length_longer_than_the_body_is_an_error(dest):
    def short(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": "5000"}, b"a" * 100)

    with http_server({"/short": short}) as (base, _):
        with pytest.raises(FetchError):
            fetch_to_file(f"{base}/short", dest, LOCAL)
    assert not dest.exists()


@pytest.mark.parametrize("value", ["abc", "-1", "1e9", "100, 200"])
def test_malformed_content_length_is_an_error(value, dest):
    def bad(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": value}, b"a" * 100)

    with http_server({"/bad": bad}) as (base, _):
        with pytest.raises(FetchError):
            fetch_to_file(f"{base}/bad", dest, LOCAL)
    assert not dest.exists()


def test_compressed_body_is_refused_not_expanded(dest):
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 kB

    def gz(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}, bomb)

    with http_server({"/bomb": gz}) as (base, log):
        with pytest.raises(FetchError, match="gzip"):
            fetch_to_file(f"{base}/bomb", dest, LOCAL)
    assert log.requests[0][1]["accept-encoding"] == "identity"
    assert not dest.exists()


# --- time ---------------------------------------------------------------------------------------


def test_server_that_never_answers_hits_the_read_timeout(dest):
    def silent(req: BaseHTTPRequestHandler) -> None:
        time.sleep(3)

    policy = FetchPolicy(max_bytes=1000, read_timeout=0.4, total_timeout=10, allow_private=True)
    with http_server({"/silent": silent}) as (base, _):
        start = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetch_to_file(f"{base}/silent", dest, policy)
        assert time.monotonic() - start < 2.0
    assert not dest.exists()


def test_dripping_server_hits_the_total_deadline(dest):
    """One byte every 50 ms never trips the read timeout; the total deadline stops it."""

    def drip(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": "5000"})
        for _ in range(100):
            req.wfile.write(b"x")
            req.wfile.flush()
            time.sleep(0.05)

    policy = FetchPolicy(max_bytes=100_000, read_timeout=1.0, total_timeout=0.8, allow_private=True)
    with http_server({"/drip": drip}) as (base, _):
        start = time.monotonic()
        with pytest.raises(FetchError, match="longer than|timed out"):
            fetch_to_file(f"{base}/drip", dest, policy)
        assert time.monotonic() - start < 2.5
    assert not dest.exists()


def test_connection_reset_mid_body_removes_the_partial_file(dest):
    def reset(req: BaseHTTPRequestHandler) -> None:
        raw_response(req, 200, {"Content-Length": "90000"}, b"x" * 30_000)
        req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        req.connection.close()

    with http_server({"/reset": reset}) as (base, _):
        with pytest.raises(FetchError):
            fetch_to_file(f"{base}/reset", dest, LOCAL)
    assert not dest.exists()


# --- https: connect to the checked IP, verify the certificate for the name ----------------------


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("cert_name,works", [("media.test", True), ("other.test", False)])
def test_https_connects_to_the_checked_ip_and_verifies_the_name(tmp_path, dns, dest, cert_name, works):
    cert, key = _self_signed(tmp_path, cert_name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    dns["media.test"] = ["127.0.0.1"]
    policy = FetchPolicy(max_bytes=100_000, connect_timeout=2, read_timeout=2, allow_private=True,
                         ca_file=str(cert))
    with http_server({"/a.png": ok(BODY)}, ssl_context=ctx) as (base, log):
        port = base.rsplit(":", 1)[1]
        if works:
            assert fetch_to_file(f"https://media.test:{port}/a.png", dest, policy) == len(BODY)
            assert log.requests[0][1]["host"] == f"media.test:{port}"
        else:
            with pytest.raises(FetchError):
                fetch_to_file(f"https://media.test:{port}/a.png", dest, policy)
            assert not dest.exists()
    assert dns.calls == ["media.test"]


def test_resolve_checked_returns_the_hop(dns):
    dns["cdn.example"] = ["93.184.216.34", "2606:2800:220:1::1"]
    hop = resolve_checked("https://CDN.example/a/b.png?x=1#frag", STRICT)
    assert (hop.host, hop.port, hop.ip, hop.host_header) == ("cdn.example", 443, "93.184.216.34", "cdn.example")
    assert hop.connect_url() == "https://93.184.216.34:443/a/b.png?x=1"
    dns["v6.example"] = ["2606:2800:220:1::1"]
    assert resolve_checked("http://v6.example:8080/", STRICT).connect_url() == "http://[2606:2800:220:1::1]:8080/"


def test_idn_host_is_encoded(dns):
    dns["xn--bcher-kva.example"] = ["93.184.216.34"]
    hop = resolve_checked("http://bücher.example/a.png", STRICT)
    assert hop.host == "xn--bcher-kva.example" and dns.calls == ["xn--bcher-kva.example"]
