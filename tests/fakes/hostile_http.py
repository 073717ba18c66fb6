"""A hostile HTTP peer on 127.0.0.1: drips its answer a byte at a time or answers a huge body, and counts.

Usage::

    with HostileServer(drip_head(interval=0.2)) as peer:
        ...  # peer.url, peer.connections, peer.received (bytes), peer.bytes_sent

A behaviour is a callable `(sock, request_bytes, server)`; it writes what it likes and returns. Writes that fail
(the client hung up) end the behaviour quietly: that is what a bounded client does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Behaviour = Callable[[socket.socket, bytes, "HostileServer"], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour, *, read_request: bool = True) -> None:
        self.behaviour = behaviour
        self.read_request = read_request  # False: the behaviour starts as soon as the connection is accepted
        self.connections = 0
        self.received = b""
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> HostileServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(5)
        try:
            request = _read_request(sock) if self.read_request else b""
            with self._lock:
                self.received += request
            self.behaviour(sock, request, self)
        except OSError:
            pass
        finally:
            sock.close()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def drip_head(interval: float, count: int = 40) -> Behaviour:
    """The status line, then one header byte every `interval` seconds (`count` of them), never finishing."""

    def behave(sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        server.send(sock, b"HTTP/1.1 202 Accepted\r\nX-Drip: ")
        for _ in range(count):
            if server.stopped:
                return
            time.sleep(interval)
            server.send(sock, b"a")

    return behave


def drip_body(interval: float, count: int = 40, status: int = 202) -> Behaviour:
    """A complete head announcing `count` bytes, then one body byte every `interval` seconds."""

    def behave(sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        server.send(sock, f"HTTP/1.1 {status} X\r\nContent-Length: {count}\r\n\r\n".encode())
        for _ in range(count):
            if server.stopped:
                return
            time.sleep(interval)
            server.send(sock, b"a")

    return behave


def huge_body(size: int, status: int = 500, content_type: str = "text/plain") -> Behaviour:
    """A `size`-byte answer sent as fast as the client takes it."""

    def behave(sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        server.send(sock, f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\n\r\n"
                    .encode())
        block = b"x" * 65536
        left = size
        while left > 0 and not server.stopped:
            piece = block[: min(left, len(block))]
            server.send(sock, piece)
            left -= len(piece)

    return behave


def never_read(seconds: float = 8.0) -> Behaviour:
    """Accepts and reads nothing (use with `read_request=False`): a large request blocks in send."""

    def behave(_sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not server.stopped:
            time.sleep(0.05)

    return behave


def answer(status: int, body: bytes, content_type: str = "application/json") -> Behaviour:
    """An ordinary, prompt answer."""

    def behave(sock: socket.socket, _request: bytes, server: HostileServer) -> None:
        server.send(sock, f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode() + body)

    return behave
