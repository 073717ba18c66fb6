"""Outbound HTTP holds against hostile peers: SSRF by DNS rebinding, dripping answers, huge answers."""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import config, delivery
from chalicelib.services.urls import check_inbound_url
from tests.fakes.hostile_http import HostileServer, answer, drip_body, drip_head, huge_body, never_read

KEY = "tenant-key-never-sent-0123456789"
ENVELOPE = {"eventId": "tg:1", "channel": "telegram", "body": "hi"}
BOT_TOKEN = "7012345678:egress-test-token"
PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    for name in config.env_var_names():
        monkeypatch.delenv(name, raising=False)

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config.reset_settings()

    apply(MUX_ALLOW_PRIVATE_INBOUND_URLS="false")
    yield apply
    config.reset_settings()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`rebind.test` resolves to a public address on the first lookup, then to 127.0.0.1 (the resolver is
    patched at the lowest level the process uses, socket.getaddrinfo)."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            address = PUBLIC_IP if not answers else "127.0.0.1"
            answers.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "224.0.0.1", "240.0.0.1", "[::1]", "[::]", "[fe80::1]", "[fc00::1]", "[fec0::1]", "[ff02::1]",
        "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]",
        "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]", "[2002:c0a8:101::]",  # 6to4 of 127.0.0.1, metadata, 192.168.1.1
        "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a00:1]",  # NAT64 of 127.0.0.1, metadata, 10.0.0.1
    ],
)
def test_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(Exception) as info:
        check_inbound_url(f"http://{host}:8080/v1/mux/inbound", allow_private=False)
    assert getattr(info.value, "code", None) == "INBOUND_URL_NOT_ALLOWED"


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700::1111]", "[::ffff:8.8.8.8]", "[2002:808:808::1]",
                                  "[64:ff9b::808:808]"])
def test_public_addresses_are_allowed(host: str) -> None:
    url = f"https://{host}/v1/mux/inbound"
    assert check_inbound_url(url, allow_private=False) == url


def test_dns_rebinding_is_refused_at_forward_time(settings: Any, rebinding: list[str]) -> None:
    with HostileServer(answer(202, b'{"ok":true}')) as openclaw:
        url = f"http://rebind.test:{openclaw.port}/v1/mux/inbound"
        assert check_inbound_url(url, allow_private=False) == url  # saved while it resolved publicly
        result = delivery.post_envelope(url, KEY, ENVELOPE, 1000)
        assert rebinding == [PUBLIC_IP, "127.0.0.1"]
        assert not result.delivered and result.retryable and result.status is None
        assert "not allowed" in result.reason
        assert openclaw.connections == 0 and KEY.encode() not in openclaw.received


def test_private_targets_work_when_allowed(settings: Any, rebinding: list[str]) -> None:
    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    with HostileServer(answer(202, b'{"ok":true}')) as openclaw:
        url = f"http://rebind.test:{openclaw.port}/v1/mux/inbound"
        check_inbound_url(url, allow_private=True)
        socket.getaddrinfo("rebind.test", 80)  # the save-time lookup (the allowed check does not resolve)
        result = delivery.post_envelope(url, KEY, ENVELOPE, 1000)
        assert result.delivered and result.status == 202
        assert f"Host: rebind.test:{openclaw.port}".encode() in openclaw.received  # the name, not the address
        assert f"Authorization: Bearer {KEY}".encode() in openclaw.received


def test_no_refused_address_is_ever_connected_to(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every address is checked before the connect, not after."""
    from chalicelib import egress

    tried: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port))),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", int(port)))]  # TEST-NET: refused too

    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        tried.append(address[0])
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    with pytest.raises(egress.EgressRefusedError):
        egress.request("GET", "http://two.test:9/", timeout_s=1, max_bytes=10, guard=True)
    assert tried == []


@pytest.mark.parametrize("behaviour", [drip_head(0.2), drip_body(0.2)], ids=["head", "body"])
def test_a_dripping_openclaw_cannot_hold_a_forward_past_its_timeout(settings: Any, behaviour: Any) -> None:
    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    with HostileServer(behaviour) as openclaw:  # one byte every 0.2 s for 8 s
        started = time.monotonic()
        result = delivery.post_envelope(f"{openclaw.url}/v1/mux/inbound", KEY, ENVELOPE, 500)
        elapsed = time.monotonic() - started
    assert not result.delivered and result.retryable and "timed out" in result.reason
    assert elapsed < 1.5, f"a 500 ms forward took {elapsed:.2f} s"


def test_a_peer_that_never_reads_cannot_hold_the_send(settings: Any) -> None:
    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    envelope = {**ENVELOPE, "attachments": [{"content": "A" * 16_000_000}]}  # far beyond the socket buffers
    with HostileServer(never_read(), read_request=False) as openclaw:
        started = time.monotonic()
        result = delivery.post_envelope(f"{openclaw.url}/v1/mux/inbound", KEY, envelope, 500)
        elapsed = time.monotonic() - started
    assert not result.delivered and result.retryable and "timed out" in result.reason
    assert elapsed < 1.5, f"a 500 ms forward took {elapsed:.2f} s"


def test_a_huge_answer_is_read_only_in_part(settings: Any) -> None:
    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    size = 64_000_000
    with HostileServer(huge_body(size, status=500)) as openclaw:
        tracemalloc.start()
        try:
            started = time.monotonic()
            result = delivery.post_envelope(f"{openclaw.url}/v1/mux/inbound", KEY, ENVELOPE, 5000)
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert result.status == 500 and result.retryable and len(result.detail) <= 200
    assert peak < 4_000_000, f"peak {peak} bytes for a {size}-byte answer"
    assert openclaw.bytes_sent < size // 4  # the rest was never taken off the wire
    assert elapsed < 2


def test_telegram_api_calls_have_a_deadline_and_a_bounded_answer(settings: Any) -> None:
    from chalicelib.channels.telegram import api

    for behaviour in (drip_body(0.2), huge_body(32_000_000, status=200, content_type="application/json")):
        with HostileServer(behaviour) as telegram:
            settings(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_API_BASE_URL=telegram.url)
            tracemalloc.start()
            try:
                started = time.monotonic()
                with pytest.raises(api.TelegramApiError) as info:
                    api.call("sendMessage", {"chat_id": 1, "text": "x"}, timeout=0.5)
                elapsed = time.monotonic() - started
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert elapsed < 1.5 and peak < 4_000_000, (elapsed, peak)
        assert BOT_TOKEN not in str(info.value)
    assert info.value.status == 200 and "larger than" in info.value.description


def test_telegram_timeout_after_the_request_was_sent_is_an_unknown_outcome(settings: Any) -> None:
    from chalicelib.channels.telegram import api

    with HostileServer(drip_head(0.2)) as telegram:
        settings(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_API_BASE_URL=telegram.url)
        with pytest.raises(api.TelegramApiError) as info:
            api.call("sendMessage", {"chat_id": 1, "text": "x"}, timeout=0.3)
    assert info.value.status == 0 and info.value.outcome_unknown


def test_a_dripping_tenant_does_not_slow_a_healthy_one(settings: Any) -> None:
    """Forwards run in parallel threads in the worker: each keeps its own deadline."""
    from concurrent.futures import ThreadPoolExecutor

    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    with HostileServer(drip_body(0.1)) as slow, HostileServer(answer(202, b"{}")) as healthy:
        def forward(url: str) -> tuple[bool, float]:
            started = time.monotonic()
            result = delivery.post_envelope(url, KEY, ENVELOPE, 600)
            return result.delivered, time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(forward, [slow.url, healthy.url] * 4))
    assert [delivered for delivered, _ in results] == [False, True] * 4
    assert max(elapsed for _, elapsed in results[0::2]) < 1.5
    assert max(elapsed for _, elapsed in results[1::2]) < 0.3


@pytest.mark.parametrize("dripping", [False, True], ids=["huge", "drip"])
def test_media_download_reads_at_most_the_cap_within_its_deadline(settings: Any, dripping: bool) -> None:
    """getFile says nothing about the size; the file endpoint then sends far more than the cap."""
    from chalicelib.channels.telegram import media

    size = 32_000_000

    def telegram(sock: socket.socket, request: bytes, server: HostileServer) -> None:
        if b"/getFile" in request.split(b"\r\n", 1)[0]:
            answer(200, b'{"ok":true,"result":{"file_id":"f","file_path":"photos/f.jpg"}}')(sock, request, server)
        elif dripping:
            drip_body(0.1, count=100)(sock, request, server)
        else:
            huge_body(size, status=200, content_type="image/jpeg")(sock, request, server)

    with HostileServer(telegram) as fake:
        settings(TELEGRAM_BOT_TOKEN=BOT_TOKEN, MUX_TELEGRAM_API_BASE_URL=fake.url)
        tracemalloc.start()
        try:
            started = time.monotonic()
            fetched = media.download("f", 1_000_000, timeout=0.5)
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert fetched is None and elapsed < 1.5
        assert peak < 6_000_000 and fake.bytes_sent < size // 4, (peak, fake.bytes_sent)


def test_tls_verifies_the_hostname_while_connecting_to_the_checked_address(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The socket goes to the resolved, checked address; SNI and the certificate check use the URL's name."""
    import datetime
    import ssl

    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from chalicelib import egress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_names: list[str | None] = []

    def record_sni(_sock: Any, server_name: str | None, _context: Any) -> None:
        server_names.append(server_name)

    context.sni_callback = record_sni

    def tls(sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        with context.wrap_socket(sock, server_side=True) as conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok")

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: (
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]
        if host in ("tls.test", "other.test") else real(host, port, *a, **k)))
    monkeypatch.setattr(certifi, "where", lambda: str(tmp_path / "cert.pem"))
    settings(MUX_ALLOW_PRIVATE_INBOUND_URLS="true")
    egress.close_pools()
    try:
        with HostileServer(tls, read_request=False) as peer:
            ok = egress.request("GET", f"https://tls.test:{peer.port}/", timeout_s=2, max_bytes=10, guard=True)
            with pytest.raises(egress.EgressConnectionError):  # same address, a name the certificate lacks
                egress.request("GET", f"https://other.test:{peer.port}/", timeout_s=2, max_bytes=10, guard=True)
    finally:
        egress.close_pools()
    assert (ok.status_code, ok.content) == (202, b"ok")
    assert server_names == ["tls.test", "other.test"]
