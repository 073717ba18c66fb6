"""The embedded AWS: moto's server, with its DynamoDB, SQS and KMS state kept on disk across restarts and crashes.

moto keeps everything in memory. Here every request to moto goes through one WSGI wrapper that serialises
the requests and, after a mutating DynamoDB/SQS/KMS call succeeded and *before* its answer is sent, makes
it durable (fdatasync): a DynamoDB write is appended to a journal (its operations are deterministic, so
replaying them on the last snapshot rebuilds the table; compacted every COMPACT_AFTER records), an SQS or
KMS change rewrites a pickle of that service's moto backend (two alternating checksummed slots). So
whatever AWS acknowledged — a queued webhook, a bootstrapped tenant, a binding — survives a restart and a
SIGKILL; there is no debounce window. Reads (Get*, Describe*, List*, Query, Scan, Decrypt, Encrypt …) and
receives that return nothing are not written. The journal is group-committed: the append is made under the
lock, its fdatasync after the lock is released, so requests running at once share one sync; still no
DynamoDB answer (a read's included) leaves before every change it can show is on disk. Snapshots are
group-committed too: one writer per service pickles under the lock and writes and syncs after it, and the
SQS/KMS mutations made meanwhile are all held by the next writer's one snapshot.

Semantics stay moto's own: the snapshot is of moto's objects. Two local deviations, both about the
process that consumed the queue having died with it:
* Long polling: `ReceiveMessage` with `WaitTimeSeconds` is run as short receives (moto's own receive,
  under the lock) until a message is there or the wait is over, so a waiting poller never holds the
  lock that mutations and snapshots need.
* On restore, messages that were in flight (received and not deleted, including retries the worker had
  deferred with ChangeMessageVisibility) become visible at once: their consumer was this process.
"""

from __future__ import annotations

import base64
import copyreg
import fcntl
import functools
import hashlib
import io
import json
import logging
import os
import pickle
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

log = logging.getLogger("local.aws")

PERSISTED_SERVICES = ("dynamodb", "sqs", "kms")
JOURNALED_SERVICES = ("dynamodb",)
COMPACT_AFTER = 1000
SNAPSHOT_MAGIC = b"MUXSTATE1"
JOURNAL_HEADERS = ("Host", "Authorization", "X-Amz-Target", "Content-Type", "X-Amz-Date")
READ_ONLY_PREFIXES = ("Get", "Describe", "List", "BatchGet", "TransactGet")
READ_ONLY_OPERATIONS = frozenset(
    {
        "Query",
        "Scan",
        "Decrypt",
        "Encrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
    }
)
# What can make a message receivable for a waiting long poll: a new one, a visibility change, and a delete
# (on a FIFO queue the group's next message is free once its received ones are gone).
WAKING_OPERATIONS = frozenset({"SendMessage", "SendMessageBatch", "ChangeMessageVisibility",
                               "ChangeMessageVisibilityBatch", "DeleteMessage", "DeleteMessageBatch"})
# Services whose JSON-protocol calls skip Flask (DurableApp._direct).
DIRECT_SERVICES = frozenset({"dynamodb", "sqs"})
RESOURCES_FILE = "resources.json"
LOCK_FILE = "lock"
# How often a long poll looks again without being woken by a send (visibility timeouts and delays expire
# without any request).
RECEIVE_RECHECK_SEC = 0.2
_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/([^/,]+)/aws4_request")
_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/")


class StateError(RuntimeError):
    """The state folder cannot be used (locked by another stack, unreadable, made for another template)."""


# --- pickling moto's backends ---------------------------------------------------------------
def _new_condition() -> threading.Condition:
    return threading.Condition()


def _new_lock() -> Any:
    return threading.Lock()


def _new_rlock() -> Any:
    return threading.RLock()


def _load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, password=None)


class _BackendPickler(pickle.Pickler):
    """Pickles moto's objects: locks and conditions are recreated empty, KMS key pairs go as PKCS#8 DER."""

    dispatch_table = {
        **copyreg.dispatch_table,
        threading.Condition: lambda _c: (_new_condition, ()),
        type(threading.Lock()): lambda _l: (_new_lock, ()),
        type(threading.RLock()): lambda _l: (_new_rlock, ()),
    }

    def reducer_override(self, obj: Any) -> Any:
        keys, queue = _special_types()
        if isinstance(obj, keys):
            from cryptography.hazmat.primitives import serialization

            der: bytes = obj.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return (_load_private_key, (der,))
        if isinstance(obj, queue):
            # The receipt handles of every message ever deleted (moto keeps them so that a repeated delete
            # succeeds) would grow each snapshot without bound; handles from before a restart belong to a
            # consumer that died with the process.
            state = dict(obj.__dict__)
            state["deleted_messages"] = set()
            return (_new_object, (type(obj),), state)
        return NotImplemented


@functools.lru_cache(maxsize=1)
def _special_types() -> tuple[tuple[type, ...], type]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from moto.sqs.models import Queue

    return (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey), Queue


def _new_object(cls: Any) -> Any:
    return cls.__new__(cls)


def _backend(service: str) -> Any:
    from moto.backends import get_backend

    return get_backend(service)  # type: ignore[call-overload]


def _fsync_folder(path: Path) -> None:
    folder = os.open(path, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _write_in_place(path: Path, data: bytes, *, sync: bool = True) -> bool:
    """Write `path`; with `sync`, durably. Returns whether it was synced (always when the file is new)."""
    created = not path.exists()
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        if sync or created:
            os.fdatasync(handle.fileno())
    if created:
        _fsync_folder(path.parent)
    return sync or created


def _fdatasync_path(path: Path) -> None:
    """fdatasync a file by name (Linux syncs the file's data, whichever descriptor asks)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class StateDir:
    """One stack's saved AWS state: a pickle per service, the provisioned resources, and an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_handle: Any = None
        self.saves = 0
        self.save_seconds = 0.0
        self._generations: dict[str, int] = {}
        self._journals: dict[str, Any] = {}
        self._journal_records: dict[str, int] = {}
        # Group commit: appends are made under the app's lock, their fdatasync after it, so concurrent
        # requests share one sync. `_written`/`_synced`: byte offsets of the current journal.
        self._written: dict[str, int] = {}
        self._synced: dict[str, int] = {}
        self._sync_lock = threading.Lock()
        self.syncs = 0
        self._snapshot_synced: dict[str, int] = {}
        self._snapshot_lock = threading.Lock()
        self._dumps: dict[str, int] = {}  # dumps made, per service (under the app's lock)
        self._stored: dict[str, tuple[int, int]] = {}  # per service: (newest dump stored, its generation)
        self._store_lock = threading.Lock()  # snapshot writes, one at a time

    def acquire(self) -> None:
        """Create the folder and lock it for this process (released when the process ends, even by SIGKILL)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle = (self.path / LOCK_FILE).open("a")
        except OSError as exc:
            raise StateError(f"cannot use the state folder {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StateError(
                f"the state folder {self.path} is in use by another local stack; stop it, or start this one "
                "with --state-dir DIR or --in-memory"
            ) from None
        self._lock_handle = handle

    def release(self) -> None:
        with self._sync_lock:
            for handle in self._journals.values():
                handle.close()
            self._journals.clear()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def clear(self) -> None:
        for item in self.path.iterdir():
            if item.name != LOCK_FILE and item.is_file():
                item.unlink()

    def saved_resources(self) -> dict[str, Any] | None:
        """What was provisioned (written last, after the first full snapshot), or None for a fresh folder."""
        try:
            data: dict[str, Any] = json.loads((self.path / RESOURCES_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"{self.path / RESOURCES_FILE} is unreadable ({exc}); start with --fresh") from None
        return data

    def save_resources(self, data: dict[str, Any]) -> None:
        _write_durably(self.path / RESOURCES_FILE, json.dumps(data, indent=2, sort_keys=True).encode())

    # Snapshots: two slots per service, written alternately in place (one fdatasync, no rename); each slot
    # starts with its generation and a checksum, and restore takes the newest intact one. A crash while a
    # slot is written leaves the other, which holds everything acknowledged before the unanswered request.
    def _slot(self, service: str, index: int) -> Path:
        return self.path / f"{service}.{index}.snapshot"

    def _journal_path(self, service: str, generation: int) -> Path:
        return self.path / f"{service}.{generation}.journal"

    #
    # With `defer`, the new slot is written but not synced: the caller syncs it with `sync_snapshot` after
    # the app's lock is released, before its answer. A slot is only overwritten once the other one (the
    # previous generation) is synced, so one intact synced snapshot holding everything acknowledged is
    # always there.
    def save(self, service: str, *, defer: bool = False) -> int:
        """Snapshot `service` (under the app's lock); returns the generation written."""
        sequence, payload = self.dump(service)
        return self.store(service, sequence, payload, defer=defer)

    def dump(self, service: str) -> tuple[int, bytes]:
        """`service`'s moto backend pickled, with its place in the order of dumps (call under the app's lock)."""
        started = time.perf_counter()
        buffer = io.BytesIO()
        _BackendPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(_backend(service))
        self._dumps[service] = self._dumps.get(service, 0) + 1
        self.save_seconds += time.perf_counter() - started
        return self._dumps[service], buffer.getvalue()

    def store(self, service: str, sequence: int, payload: bytes, *, defer: bool = False) -> int:
        """Write a dump as the next snapshot generation (no app lock needed); returns the generation that
        holds it. A dump older than one already stored is not written: that newer snapshot holds its changes
        (it is synced here unless `defer`)."""
        with self._store_lock:
            stored, generation = self._stored.get(service, (0, 0))
            if sequence <= stored:
                if not defer:
                    self.sync_snapshot(service, generation)
                return generation
            generation = self._store(service, payload, defer=defer)
            self._stored[service] = (sequence, generation)
            return generation

    def _store(self, service: str, payload: bytes, *, defer: bool) -> int:
        started = time.perf_counter()
        previous = self._generations.get(service, 0)
        generation = previous + 1
        with self._snapshot_lock:
            if self._snapshot_synced.get(service, 0) < previous:
                _fdatasync_path(self._slot(service, previous % 2))  # its own request has not synced it yet
                self._snapshot_synced[service] = previous
        header = SNAPSHOT_MAGIC + generation.to_bytes(8, "big") + hashlib.sha256(payload).digest()
        synced = _write_in_place(self._slot(service, generation % 2), header + payload,
                                 sync=not defer or service in JOURNALED_SERVICES)
        self._generations[service] = generation
        if synced:
            with self._snapshot_lock:
                self._snapshot_synced[service] = generation
        if service in JOURNALED_SERVICES:
            self._start_journal(service, generation)
        self.saves += 1
        self.save_seconds += time.perf_counter() - started
        return generation

    def sync_snapshot(self, service: str, generation: int) -> None:
        """Make snapshot `generation` durable (a no-op when it, or a later one's writer, synced it already)."""
        with self._snapshot_lock:
            if self._snapshot_synced.get(service, 0) >= generation:
                return
            started = time.perf_counter()
            _fdatasync_path(self._slot(service, generation % 2))
            self._snapshot_synced[service] = generation
            self.save_seconds += time.perf_counter() - started

    def save_all(self) -> None:
        for service in PERSISTED_SERVICES:
            self.save(service)

    # Journal (DynamoDB only: its operations are deterministic, so replaying the acknowledged requests on
    # the snapshot rebuilds the state exactly). One small append per write instead of a snapshot of the
    # whole table, made durable by `sync` before the answer is sent; compacted into a new snapshot every
    # COMPACT_AFTER records.
    def _start_journal(self, service: str, generation: int) -> None:
        path = self._journal_path(service, generation)
        handle = path.open("wb")
        _fsync_folder(self.path)
        with self._sync_lock:
            # The snapshot just written (synced) holds every record of the old journal, synced or not.
            old = self._journals.pop(service, None)
            if old is not None:
                old.close()
            self._journals[service] = handle
            self._written[service] = self._synced[service] = 0
        self._journal_records[service] = 0
        for stale in self.path.glob(f"{service}.*.journal"):
            if stale != path:
                stale.unlink()

    def journal(self, service: str, headers: dict[str, str], body: bytes) -> None:
        if service not in self._journals:
            self.save(service)  # no snapshot yet (first provisioning): this one holds the change
            return
        started = time.perf_counter()
        handle = self._journals[service]
        record = json.dumps({"headers": headers, "body": base64.b64encode(body).decode("ascii")}).encode()
        handle.write(len(record).to_bytes(4, "big") + zlib.crc32(record).to_bytes(4, "big") + record)
        handle.flush()
        self._written[service] = handle.tell()
        self._journal_records[service] += 1
        self.saves += 1
        self.save_seconds += time.perf_counter() - started
        if self._journal_records[service] >= COMPACT_AFTER:
            self.save(service)

    def unsynced(self, service: str) -> tuple[Any, int] | None:
        """(journal, offset) that must be on disk before an answer about `service`'s current state is sent
        (None: nothing pending). Called under the app's lock, right after the request ran."""
        handle = self._journals.get(service)
        if handle is None or self._written.get(service, 0) <= self._synced.get(service, 0):
            return None
        return handle, self._written[service]

    def sync(self, service: str, pending: tuple[Any, int]) -> None:
        """Make the journal durable up to `pending`'s offset; one fdatasync covers every append before it."""
        handle, offset = pending
        with self._sync_lock:
            if self._journals.get(service) is not handle or self._synced[service] >= offset:
                return  # synced by a later request's sync, or folded into a (synced) snapshot since
            started = time.perf_counter()
            upto = self._written[service]
            os.fdatasync(self._journals[service].fileno())
            self._synced[service] = max(self._synced[service], upto)
            self.syncs += 1
            self.save_seconds += time.perf_counter() - started

    def restore(self, replay: Callable[[dict[str, str], bytes], None]) -> None:
        """Load every saved backend into moto and replay the journals (before its server answers anything)."""
        for service in PERSISTED_SERVICES:
            generation, payload = self._newest_snapshot(service)
            try:
                loaded = pickle.loads(payload)  # noqa: S301 - our own file, written by save()
            except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing
                raise StateError(
                    f"the {service} state cannot be loaded ({type(exc).__name__}); start with --fresh"
                ) from None
            live = _backend(service)
            live.clear()
            live.update(loaded)
            self._generations[service] = generation
            if service in JOURNALED_SERVICES:
                for headers, body in self._records(self._journal_path(service, generation)):
                    replay(headers, body)
        _release_in_flight()
        for service in JOURNALED_SERVICES:
            self.save(service)  # fold the replayed journal into a new snapshot; start an empty journal

    def _newest_snapshot(self, service: str) -> tuple[int, bytes]:
        best: tuple[int, bytes] | None = None
        for index in (0, 1):
            try:
                data = self._slot(service, index).read_bytes()
            except FileNotFoundError:
                continue
            head = len(SNAPSHOT_MAGIC)
            generation = int.from_bytes(data[head:head + 8], "big")
            digest, payload = data[head + 8:head + 40], data[head + 40:]
            if data[:head] == SNAPSHOT_MAGIC and hashlib.sha256(payload).digest() == digest:
                if best is None or generation > best[0]:
                    best = (generation, payload)
        if best is None:
            raise StateError(f"no intact {service} snapshot in {self.path}; start with --fresh")
        return best

    @staticmethod
    def _records(path: Path) -> Iterable[tuple[dict[str, str], bytes]]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        offset = 0
        while offset + 8 <= len(data):
            length = int.from_bytes(data[offset:offset + 4], "big")
            crc = int.from_bytes(data[offset + 4:offset + 8], "big")
            record = data[offset + 8:offset + 8 + length]
            if len(record) < length or zlib.crc32(record) != crc:
                return  # a torn last append: that request was never answered
            item = json.loads(record)
            yield item["headers"], base64.b64decode(item["body"])
            offset += 8 + length


def _release_in_flight() -> int:
    from moto.sqs.models import sqs_backends

    released = 0
    now_ms = time.time() * 1000
    for account in sqs_backends.values():
        for backend in account.values():
            for queue in backend.queues.values():
                queue.pending_messages.clear()
                for message in queue._messages:
                    if message.visible_at > now_ms:
                        message.visible_at = 0.0
                        released += 1
    return released


# --- the WSGI wrapper -----------------------------------------------------------------------
def _operation(environ: dict[str, Any], body: bytes) -> tuple[str, str, dict[str, Any] | None]:
    """(signing service, operation, form fields of a query-protocol call or None) of one AWS request."""
    found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = found.group(1) if found else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1], None
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return service, (form.get("Action") or [""])[0], form
    return service, "", None


def _journal_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The headers moto needs to route a replayed request (the credentials are the stack's fake ones)."""
    out = {}
    for name in JOURNAL_HEADERS:
        key = "CONTENT_TYPE" if name == "Content-Type" else "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            out[name] = str(environ[key])
    return out


def _mutates(operation: str) -> bool:
    return not (operation.startswith(READ_ONLY_PREFIXES) or operation in READ_ONLY_OPERATIONS)


class DurableApp:
    """WSGI wrapper around moto's app: one request at a time, and a snapshot before each mutation's answer."""

    def __init__(self, app: Callable[..., Any], state: StateDir | None) -> None:
        self._app = app
        self.state = state
        self._lock = threading.Lock()
        self._sent = threading.Condition()
        self.direct = True  # DynamoDB and SQS JSON calls go to moto's handler without Flask (`_direct`)
        self._routes: dict[str, Any] = {}
        self._changes: dict[str, int] = {}  # snapshotted services' mutations so far (under the lock)
        self._committed: dict[str, int] = {}  # … of which a synced snapshot holds the first n
        self._committers: dict[str, Any] = {name: threading.Lock() for name in PERSISTED_SERVICES}

    def _commit_snapshot(self, service: str, change: int) -> None:
        """Return once a synced snapshot holds change number `change` of `service` (an SQS or KMS mutation).
        Group commit: one writer at a time per service pickles the backend under the app's lock and writes
        and syncs it after; the changes made meanwhile wait for the next writer, whose one snapshot holds
        them all (with 1,000 messages queued a pickle of the SQS backend is ≈ 5 ms and 1.7 MB)."""
        assert self.state is not None
        with self._committers[service]:
            if self._committed.get(service, 0) >= change:
                return  # a snapshot taken after this change is on disk
            with self._lock:
                upto = self._changes[service]
                sequence, payload = self.state.dump(service)
            self.state.store(service, sequence, payload)
            self._committed[service] = upto

    def snapshot_all(self) -> None:
        if self.state is not None:
            with self._lock:
                self.state.save_all()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        service, operation, form = _operation(environ, body)
        if service == "sqs" and operation == "ReceiveMessage":
            status, headers, payload = self._receive(environ, body, form)
        else:
            status, headers, payload = self._call(environ, body, service, operation)
        start_response(status, headers)
        return [payload]

    def _call(self, environ: dict[str, Any], body: bytes, service: str, operation: str) -> tuple[str, Any, bytes]:
        pending = None
        snapshot = 0
        with self._lock:
            status, headers, payload = self._inner(environ, body)
            if self.state is not None and service in PERSISTED_SERVICES and status.startswith("2"):
                if operation == "ReceiveMessage" and b"ReceiptHandle" not in payload:
                    pass  # nothing was received: nothing changed
                elif _mutates(operation):
                    try:
                        if service in JOURNALED_SERVICES:
                            self.state.journal(service, _journal_headers(environ), body)
                        else:
                            self._changes[service] = snapshot = self._changes.get(service, 0) + 1
                    except OSError as exc:
                        # Not durable, so not acknowledged: the SDK sees a server error and the caller retries.
                        log.error("cannot save the local %s state: %s", service, exc.strerror or exc)
                        return _internal_failure(f"cannot save the local {service} state")
            if self.state is not None and service in JOURNALED_SERVICES:
                # Any answer (a read too) may show appended changes: none leaves before they are on disk.
                pending = self.state.unsynced(service)
        if pending is not None or snapshot:
            assert self.state is not None
            try:
                if pending is not None:
                    self.state.sync(service, pending)
                if snapshot:
                    self._commit_snapshot(service, snapshot)
            except OSError as exc:
                log.error("cannot save the local %s state: %s", service, exc.strerror or exc)
                return _internal_failure(f"cannot save the local {service} state")
        if service == "sqs" and operation in WAKING_OPERATIONS:
            with self._sent:
                self._sent.notify_all()
        return status, headers, payload

    def _receive(self, environ: dict[str, Any], body: bytes, form: dict[str, Any] | None) -> tuple[str, Any, bytes]:
        wait, short_body = _without_wait(body, form)
        deadline = time.monotonic() + wait
        queue_url = _queue_url(body, form)
        region = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        while True:
            remaining = deadline - time.monotonic()
            # moto's receive runs when it could hand out a message, and for the final (empty) answer; a waiting
            # poll woken by a send to another queue or by another group's message costs one cheap look.
            if remaining <= 0 or self._receivable(queue_url, region.group(1) if region else None):
                status, headers, payload = self._call(environ, short_body, "sqs", "ReceiveMessage")
                remaining = deadline - time.monotonic()
                if not status.startswith("2") or b"ReceiptHandle" in payload or remaining <= 0:
                    return status, headers, payload
            with self._sent:
                self._sent.wait(min(remaining, RECEIVE_RECHECK_SEC))

    def _receivable(self, queue_url: str | None, region: str | None) -> bool:
        """False only if moto's receive on this queue would certainly hand out nothing now: no message is
        visible and undelayed outside the FIFO groups in flight (the condition moto's `receive_message`
        applies; a visible message past its redrive count counts too, as moto's receive moves it). True
        when unsure (unknown queue, region or URL): then moto answers."""
        if not queue_url or not region:
            return True
        path = queue_url.split("://", 1)[-1].split("/")
        if len(path) < 3:
            return True
        try:
            from moto.sqs.models import sqs_backends

            with self._lock:
                queue = sqs_backends[path[-2]][region].queues.get(path[-1])
                if queue is None:
                    return True
                now = time.time() * 1000
                fifo = bool(queue.fifo_queue)
                pending = queue.pending_messages
                groups = queue.pending_message_groups if fifo else set()
                for message in queue._messages:
                    if now > message.visible_at and not now < message.delayed_until:
                        if not fifo or message in pending or message.group_id not in groups:
                            return True
                return False
        except Exception:  # noqa: BLE001 - moto's internals moved: ask moto itself
            return True

    def _direct(self, environ: dict[str, Any]) -> tuple[str, Any, bytes] | None:
        """A JSON-protocol call (`POST /` with X-Amz-Target) to DynamoDB or SQS, answered by the moto handler
        moto's Flask app routes it to, without Flask: the same request class, the same call as moto's
        `convert_to_flask_response` makes, the answer built as it builds it, and the CORS header moto's app
        adds to every answer (flask_cors, origins "*"). Flask's request context, URL matching, debug helpers
        and response processing cost about a fifth of each call. None: anything else (Flask answers)."""
        if (environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/"
                or "HTTP_X_AMZ_TARGET" not in environ):
            return None
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = scope.group(1) if scope else None
        if service not in DIRECT_SERVICES:
            return None
        route = self._routes.get(service)
        if route is None:
            route = self._routes[service] = _direct_route(self._app, environ)
        if not route:
            return None
        callback, request_class, response_class, cors = route
        from botocore.exceptions import ClientError
        from moto.moto_api import recorder

        request = request_class(environ)
        recorder._record_request(request)  # as moto's view does (a no-op unless recording is on)
        try:
            result = callback(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = response_class(response=content, status=status, headers=headers)
        if cors and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = "*"
        payload = response.get_data()
        out = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        out.append(("Content-Length", str(len(payload))))
        return response.status, out, payload

    def _inner(self, environ: dict[str, Any], body: bytes) -> tuple[str, Any, bytes]:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        if self.direct:
            answer = self._direct(environ)
            if answer is not None:
                return answer
        result = self._app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(payload))))
        return captured["status"], headers, payload


def _direct_route(dispatcher: Any, environ: dict[str, Any]) -> Any:
    """(moto's handler, request class, response class, CORS on) for `POST /` of this call's service, as moto's
    Flask app for it routes it; False when that route is not moto's plain handler (then Flask answers)."""
    from moto.core.utils import convert_to_flask_response
    from moto.settings import DISABLE_GLOBAL_CORS
    from werkzeug.exceptions import HTTPException

    app = dispatcher.get_application(environ)
    try:
        endpoint, args = app.url_map.bind_to_environ(environ).match()
    except HTTPException:
        return False
    view = app.view_functions.get(endpoint)
    cors = not DISABLE_GLOBAL_CORS
    hooks = [name for name, funcs in app.after_request_funcs.items() if funcs]
    if (args or not isinstance(view, convert_to_flask_response) or any(app.before_request_funcs.values())
            or any(app.url_value_preprocessors.values()) or any(app.teardown_request_funcs.values())
            or hooks not in ([], [None]) or len(app.after_request_funcs.get(None, [])) != int(cors)):
        return False  # moto's app does more than its handler and the CORS header here
    return view.callback, app.request_class, app.response_class, cors


def _queue_url(body: bytes, form: dict[str, Any] | None) -> str | None:
    """The QueueUrl of a ReceiveMessage call (query or JSON protocol), or None."""
    try:
        if form is not None:
            return str((form.get("QueueUrl") or [""])[0]) or None
        url = json.loads(body or b"{}").get("QueueUrl")
        return url if isinstance(url, str) else None
    except (ValueError, TypeError, AttributeError):
        return None


def _without_wait(body: bytes, form: dict[str, Any] | None) -> tuple[float, bytes]:
    """The long-poll wait of a ReceiveMessage call, and the same call as a short receive."""
    try:
        if form is not None:
            wait = float((form.get("WaitTimeSeconds") or ["0"])[0])
            form["WaitTimeSeconds"] = ["0"]
            return wait, urlencode(form, doseq=True).encode()
        request = json.loads(body or b"{}")
        wait = float(request.get("WaitTimeSeconds") or 0)
        request["WaitTimeSeconds"] = 0
        return wait, json.dumps(request).encode()
    except (ValueError, TypeError, AttributeError):
        return 0.0, body  # malformed: let moto answer it as it would


def _replay(app: Callable[..., Any], headers: dict[str, str], body: bytes) -> None:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path="/", method="POST", headers=list(headers.items()), data=body).get_environ()
    status: list[str] = []
    result = app(environ, lambda s, h, e=None: status.append(s))
    b"".join(result)
    if not status or not status[0].startswith("2"):
        log.warning("a journaled AWS request answered %s on replay", status[0] if status else "nothing")


def _internal_failure(message: str) -> tuple[str, Any, bytes]:
    payload = json.dumps({"__type": "InternalFailure", "message": message}).encode()
    return "500 Internal Server Error", [("Content-Type", "application/x-amz-json-1.0"),
                                         ("Content-Length", str(len(payload)))], payload


@functools.lru_cache(maxsize=1)
def _dispatcher_class() -> type:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher with its backend per Host header remembered: moto lists its own package folder
        (≈ 200 `isdir` calls) on every request to find it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backends:
                self._backends[host] = super().get_backend_for_host(host)
            return self._backends[host]

    return Dispatcher


class _RawBody(io.BytesIO):
    def stream(self, **_kwargs: Any) -> Iterable[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


class _InProcess:
    """botocore `before-send`: a request for the embedded AWS's endpoint is answered by its WSGI app directly."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self._aws = aws

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        app = self._aws.app
        prefix = self._aws.endpoint + "/"
        if app is None or not (request.url + "/").startswith(prefix) or self._aws._server is None:
            return None  # not ours (or stopped): botocore sends it over the network
        from urllib.parse import urlsplit

        from botocore.awsrequest import AWSResponse

        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = body.read()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": url.path or "/",
            "QUERY_STRING": url.query,
            "SERVER_NAME": self._aws.host,
            "SERVER_PORT": str(self._aws.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": url.netloc,
        }
        for name, value in request.headers.items():
            value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ["HTTP_" + key] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        payload = b"".join(app(environ, start_response))
        status = int(captured["status"].split(" ", 1)[0])
        return AWSResponse(request.url, status, dict(captured["headers"]), _RawBody(payload))


# --- the server -----------------------------------------------------------------------------
def _keep_alive_handler() -> type:
    """moto's request handler with HTTP/1.1 keep-alive. werkzeug's development server closes every connection
    after one answer, so each call of another process's SDK client (the worker's four a message) paid a new
    TCP connection and a new server thread. DurableApp answers every request whole, with its Content-Length,
    so the connection can carry the next request; the answer goes out in one write (status, headers, body).
    A request this cannot frame safely (chunked or 100-continue uploads, HEAD) is left to werkzeug, which
    closes the connection after it. The environ is werkzeug's and moto's own (`make_environ`)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.server.connections_lock:  # type: ignore[attr-defined]
                self.server.connections.add(self.connection)  # type: ignore[attr-defined]

        def finish(self) -> None:
            with self.server.connections_lock:  # type: ignore[attr-defined]
                self.server.connections.discard(self.connection)  # type: ignore[attr-defined]
            super().finish()

        def run_wsgi(self) -> None:
            if (self.command == "HEAD" or "Transfer-Encoding" in self.headers
                    or self.headers.get("Expect", "").lower().strip(" \t") == "100-continue"
                    or (self.headers.get("Content-Length") is None and self.command not in ("GET", "DELETE"))):
                self.close_connection = True
                super().run_wsgi()
                return
            self.environ = environ = self.make_environ()
            captured: dict[str, Any] = {}

            def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
                captured["status"], captured["headers"] = status, headers
                return lambda _data: None  # DurableApp returns its body; it never writes

            try:
                payload = b"".join(self.server.app(environ, start_response))
                status, headers = captured["status"], captured["headers"]
            except Exception:  # noqa: BLE001 - as werkzeug: the client gets a 500, the server keeps running
                log.exception("the embedded AWS failed a request")
                status, headers, payload = _internal_failure("the embedded AWS failed a request")
                self.close_connection = True
            head = [f"HTTP/1.1 {status}"]
            head += [f"{name}: {value}" for name, value in headers if name.lower() not in ("content-length",
                                                                                           "connection")]
            head.append(f"Content-Length: {len(payload)}")
            if self.close_connection:
                head.append("Connection: close")
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            self.log_request(int(status.split(" ", 1)[0]), len(payload))

    return KeepAliveHandler


class EmbeddedAws:
    """moto's server on `host:port` (0 = any free port) behind `DurableApp`; `state=None` keeps it in memory.

    The socket is bound in `start()` itself (with SO_REUSEADDR, so a pinned port is usable again at once
    after a restart); a busy port raises OSError there.
    """

    def __init__(self, host: str, port: int, state: StateDir | None) -> None:
        self.host = host
        self.port = port
        self.state = state
        self.app: DurableApp | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, *, restore: bool = False) -> None:
        """Bind and serve; with `restore`, load the saved state (and replay its journal) first."""
        from moto.moto_server.werkzeug_app import create_backend_app
        from werkzeug.serving import make_server

        from local import motofixes

        motofixes.install()
        inner = _dispatcher_class()(create_backend_app)
        self.app = DurableApp(inner, self.state)
        if restore and self.state is not None:
            self.state.restore(functools.partial(_replay, inner))
        self._server = make_server(self.host, self.port, self.app, threaded=True,
                                   request_handler=_keep_alive_handler())
        self._server.connections, self._server.connections_lock = set(), threading.Lock()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def serve_in_process(self) -> None:
        """Let this process's own SDK clients reach the embedded AWS without a socket: a botocore `before-send`
        handler, added for every session created from now on, hands each request for `endpoint` to the same
        WSGI app the server runs (DurableApp: same lock, journal, snapshots and long polls), as moto's own
        in-process mock does with its backends. Other processes (the worker, muxctl, the aws CLI) and every
        other URL still go over HTTP."""
        import botocore.handlers

        handler = _InProcess(self)
        if not any(isinstance(entry[1], _InProcess) for entry in botocore.handlers.BUILTIN_HANDLERS):
            botocore.handlers.BUILTIN_HANDLERS.append(("before-send", handler))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._server.connections_lock:  # kept-alive connections: their next request is refused
                for connection in list(self._server.connections):
                    try:
                        connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._server = None  # in-process calls stop too (_InProcess hands them to the network, which refuses)
        if self._thread is not None:
            self._thread.join(timeout=5)
