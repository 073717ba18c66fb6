"""Every outbound HTTP exchange of the mux: a hard deadline, a bounded answer, and the SSRF guard for tenant URLs.

* **Deadline.** `timeout_s` bounds the whole exchange — name resolution, connect, TLS, sending, the answer's
  head and the part of its body that is read. Socket timeouts alone bound each read, so a peer dripping one
  byte at a time could hold an exchange forever; here one watchdog thread shuts the socket down at the
  deadline, which ends whatever call is blocked on it.
* **Bounded answers.** At most `max_bytes` of the body are read (`Answer.truncated` says there was more); the
  connection is then dropped rather than drained. Bodies are read as sent (`Accept-Encoding: identity`, no
  decoding), so a compressed answer cannot inflate past the bound.
* **SSRF guard** (`guard=True`, for URLs a tenant supplied; CONTRACT §1). The host is resolved at connect
  time, every candidate address is checked and the socket connects to the checked address itself (then
  `getpeername()` is checked again), so a name that resolved to a public address when the URL was saved and
  to 127.0.0.1 now is refused before a byte is sent. The URL's host still names the Host header, SNI and the
  certificate check. `MUX_ALLOW_PRIVATE_INBOUND_URLS` lifts the guard (the local stage needs loopback).
* Redirects are never followed; no retries; environment proxies are not used. Error messages never hold the
  URL (Telegram URLs carry the bot token), so they are safe to log.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: site-local translation
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_READ_CHUNK = 65536


class EgressError(Exception):
    """An exchange that produced no answer. The message names the failure, never the URL."""

    # Whether the whole request had been written (the peer may have acted on it); only timeouts and
    # connection failures can say yes.
    sent: bool = False


class EgressTimeoutError(EgressError):
    """The deadline passed. `sent` = the whole request had been written (the peer may have acted on it)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class EgressRefusedError(EgressError):
    """The SSRF guard refused every address the host resolved to; nothing was sent."""


class EgressConnectionError(EgressError):
    """Resolution, connection or protocol failure. `sent` as for timeouts."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    content: bytes  # at most max_bytes
    truncated: bool  # the peer sent more than max_bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def forbidden_address(address: str) -> bool:
    """True for loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved and unspecified
    addresses, IPv4 and IPv6, including IPv6 forms that embed such an IPv4 (mapped, 6to4, NAT64)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return True
        embedded = _embedded_ipv4(ip)
        if embedded is not None:  # a translation prefix: the IPv4 inside is where the packets go
            return _forbidden_ip(embedded)
    return _forbidden_ip(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _IPV4_TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _forbidden_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


# --- one exchange and its deadline --------------------------------------------------------------------
@dataclass(eq=False)
class _Exchange:
    deadline: float  # time.monotonic()
    guard: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    sock: socket.socket | None = None  # the raw TCP socket in use (under TLS, the one beneath it)
    done: bool = False
    expired: bool = False
    sent: bool = False
    refused: bool = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket) -> None:
        with self.lock:
            self.sock = sock
            expired = self.expired
        if expired:
            _shutdown(sock)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            sock = self.sock
        if sock is not None:
            _shutdown(sock)

    def finish(self) -> bool:
        """Disarm the watchdog; True if the deadline had passed."""
        with self.lock:
            self.done = True
            return self.expired


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv/send/connect on it
    except OSError:
        pass


class _Watchdog:
    """One thread for the process: expires exchanges whose deadline passed (finished ones are skipped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Exchange]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, exchange: _Exchange) -> None:
        with self._cond:
            heapq.heappush(self._heap, (exchange.deadline, next(self._seq), exchange))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="egress-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, exchange = self._heap[0]
                wait = deadline - time.monotonic()
                if not exchange.done and wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            exchange.expire()


_watchdog = _Watchdog()
_local = threading.local()
# getaddrinfo cannot be interrupted: run it aside and stop waiting at the deadline (a tenant controls its
# own DNS server, and a slow one must not hold a forward past its timeout).
_resolver: Any = None
_resolver_lock = threading.Lock()


def _resolve(host: str, port: int, timeout: float) -> list[Any]:
    global _resolver
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeoutError

    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="egress-dns")
    future = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        return list(future.result(timeout=max(timeout, 0.001)))
    except FutureTimeoutError:
        raise TimeoutError("name resolution timed out") from None


def _current() -> _Exchange:
    exchange: _Exchange | None = getattr(_local, "exchange", None)
    if exchange is None:  # a pooled connection used outside request(): no deadline of ours applies
        raise RuntimeError("egress connections are used only through egress.request()")
    return exchange


def _open_socket(host: str, port: int, options: Any) -> socket.socket:
    exchange = _current()
    allow_private = not exchange.guard or _private_allowed()
    infos = _resolve(host, port, exchange.remaining())
    last_error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        if not allow_private and forbidden_address(str(sockaddr[0])):
            exchange.refused = True
            continue
        remaining = exchange.remaining()
        if remaining <= 0:
            raise TimeoutError("connect timed out")
        sock = socket.socket(family, kind, proto)
        try:
            for level, name, value in options or ():
                sock.setsockopt(level, name, value)
            sock.settimeout(remaining)
            exchange.attach(sock)
            sock.connect(sockaddr)
            if not allow_private and forbidden_address(str(sock.getpeername()[0])):
                exchange.refused = True
                sock.close()
                continue
            return sock
        except OSError as exc:
            last_error = exc
            sock.close()
    if last_error is not None:
        raise last_error
    raise EgressRefusedError("the host resolves only to addresses that are not allowed")


def _private_allowed() -> bool:
    from chalicelib.config import get_settings

    return get_settings().allow_private_inbound_urls


def _connection_classes() -> tuple[type[Any], type[Any]]:
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class _Connect:
        """Connects through `_open_socket` and ties the socket to the exchange it serves."""

        _raw_sock: socket.socket | None = None

        def _new_conn(self) -> socket.socket:
            sock = _open_socket(self._dns_host, self.port, self.socket_options)  # type: ignore[attr-defined]
            self._raw_sock = sock
            return sock

        def request(self, *args: Any, **kwargs: Any) -> None:
            exchange = _current()
            if self.sock is not None and self._raw_sock is not None:  # type: ignore[attr-defined]
                exchange.attach(self._raw_sock)  # a kept-alive connection serves this exchange now
            super().request(*args, **kwargs)  # type: ignore[misc]
            exchange.sent = True

    class _HTTP(_Connect, HTTPConnection):
        pass

    class _HTTPS(_Connect, HTTPSConnection):
        pass

    return _HTTP, _HTTPS


_pools: dict[bool, Any] = {}
_pools_lock = threading.Lock()


def _pool(guard: bool) -> Any:
    """One pool manager per kind (guarded tenant URLs, platform APIs); connections are kept alive."""
    with _pools_lock:
        if guard not in _pools:
            import certifi
            from urllib3 import PoolManager
            from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

            http_cls, https_cls = _connection_classes()
            manager = PoolManager(num_pools=64, maxsize=16, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
            manager.pool_classes_by_scheme = {
                "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls}),
                "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls}),
            }
            _pools[guard] = manager
        return _pools[guard]


def close_pools() -> None:
    """Drop every kept-alive connection (tests; a process that changes its trust store)."""
    with _pools_lock:
        for manager in _pools.values():
            manager.clear()
        _pools.clear()


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float,
    max_bytes: int,
    guard: bool,
) -> Answer:
    """One HTTP exchange finished within `timeout_s`, reading at most `max_bytes` of the answer's body.

    `guard=True` for URLs a tenant supplied (SSRF guard); platform API base URLs come from the operator.
    Raises EgressTimeoutError, EgressRefusedError or EgressConnectionError; any HTTP status is an Answer.
    """
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import TimeoutError as Urllib3Timeout
    from urllib3.util import Timeout

    exchange = _Exchange(deadline=time.monotonic() + max(timeout_s, 0.001), guard=guard)
    _watchdog.watch(exchange)
    _local.exchange = exchange
    all_headers = {"Accept-Encoding": "identity", "User-Agent": "openclaw-mux/0.1", **(headers or {})}
    resp: Any = None
    try:
        resp = _pool(guard).urlopen(
            method, url, body=body, headers=all_headers, retries=False, redirect=False,
            preload_content=False, decode_content=False, timeout=Timeout(connect=timeout_s, read=timeout_s),
        )
        content = bytearray()
        while len(content) <= max_bytes:
            chunk = resp.read(min(_READ_CHUNK, max_bytes + 1 - len(content)), decode_content=False)
            if not chunk:
                break
            content += chunk
    except EgressRefusedError:
        exchange.finish()
        raise
    except (Urllib3Error, OSError, ValueError) as exc:
        if resp is not None:
            resp.close()
            resp.release_conn()
        expired = exchange.finish()
        if expired or exchange.remaining() <= 0.01 or isinstance(exc, (Urllib3Timeout, TimeoutError)):
            raise EgressTimeoutError(f"timed out after {timeout_s:g} s", sent=exchange.sent) from None
        if exchange.refused and not exchange.sent:
            raise EgressRefusedError("the host resolves only to addresses that are not allowed") from None
        raise EgressConnectionError(f"connection failed ({type(exc).__name__})", sent=exchange.sent) from None
    except BaseException:
        if resp is not None:
            resp.close()
            resp.release_conn()
        exchange.finish()
        raise
    finally:
        _local.exchange = None
    expired = exchange.finish()
    truncated = len(content) > max_bytes
    if truncated or expired:
        resp.close()  # not drained: the connection is dropped instead of going back with unread bytes
    resp.release_conn()
    if expired:
        raise EgressTimeoutError(f"timed out after {timeout_s:g} s", sent=True)
    return Answer(resp.status, resp.headers, bytes(content[:max_bytes]), truncated)


def fetch(url: str, *, headers: Mapping[str, str] | None = None, timeout_s: float, max_bytes: int,
          guard: bool) -> tuple[bytes, str | None] | None:
    """GET `url`: its bytes and Content-Type, or None when they cannot be had whole (no answer, not 200, or more
    than `max_bytes`) — what every media download wants, since a missing file is skipped, never an error."""
    try:
        resp = request("GET", url, headers=headers, timeout_s=timeout_s, max_bytes=max_bytes, guard=guard)
    except EgressError:
        return None
    if resp.status_code != 200 or resp.truncated:
        return None
    return resp.content, resp.headers.get("Content-Type")
