"""A statement the database never answers ends its connection, not its request thread.

The API's statements are bounded by the server (``statement_timeout``, see
:class:`backend.db.Database`): past it PostgreSQL cancels them and says so. A server that
cannot say so — frozen (a stopped process, storage that no longer returns), or a proxy
between that took the bytes and went silent — is not seen by TCP either: its kernel
acknowledges what is sent, and the keepalives (``db.TCP_LIVENESS``) are answered. The
statement then waits for good, and with it the request's thread; the attack's "hang"
drill held every API thread until the database came back.

:class:`StatementWatch` notes each statement, commit and rollback as it starts (the
thread, a duplicate of its connection's socket, when it must have ended: the server's
bound plus a margin) and forgets it when it returns. A watcher thread of the process
shuts down the socket of one past its time. libpq then reads the end of the connection,
psycopg2 raises ``OperationalError`` and SQLAlchemy discards the connection (and
replaces the pool's older ones): the request is answered 503 as in any database outage,
and the next statement opens a fresh connection.

The duplicate descriptor holds the socket itself, not a number libpq may close and the
process reuse: only the socket of the statement noted is ever shut. A connection the
watch ended just as its statement returned is refused at its next checkout
(:meth:`StatementWatch.ended_connection`), so no later request inherits it. Noting a
statement costs a descriptor's duplicate and close and a dictionary write under a lock
(a few microseconds); the watcher wakes a few times per bound, and logs at most once a
minute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("qonys.outage")


@dataclass
class _Running:
    duplicate: int  # a descriptor of the connection's socket, the watch's own
    connection: Callable[[], Any]  # a weak reference
    deadline: float  # time.monotonic()


class StatementWatch:
    """Ends the connections of statements that outlive ``limit_s`` seconds."""

    def __init__(self, limit_s: float) -> None:
        if not limit_s > 0:
            raise ValueError("a statement watch needs a positive limit")
        self.limit_s = limit_s
        self.ended = 0  # connections this process ended (tests and the log read it)
        self._logged = 0.0  # when the log last said so
        self._closed = False
        self._fresh()
        _WATCHES.add(self)

    def _fresh(self) -> None:
        """Nothing running, no watcher: at start, and in a child after a fork (its
        parent's threads and lock holders are not there)."""
        self._running: dict[int, _Running] = {}
        self._gone: weakref.WeakSet[Any] = weakref.WeakSet()  # connections ended
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self, dbapi_connection: Any) -> Iterator[None]:
        """Around one statement on ``dbapi_connection`` (psycopg2's)."""
        key = self.start(dbapi_connection)
        try:
            yield
        finally:
            self.stop(key)

    def start(self, dbapi_connection: Any) -> int:
        """Note a statement starting on this connection; the key :meth:`stop` takes."""
        try:
            duplicate = os.dup(dbapi_connection.fileno())
        except Exception:  # closed: the statement will fail at once on its own
            return 0
        key = threading.get_ident()
        connection: Callable[[], Any]
        try:
            connection = weakref.ref(dbapi_connection)
        except TypeError:  # no weak reference to it: ended, it cannot be named at checkout
            connection = _nothing
        entry = _Running(duplicate, connection, time.monotonic() + self.limit_s)
        with self._lock:
            before = self._running.pop(key, None)  # a statement begun inside another's
            self._running[key] = entry
            self._closed = False  # used again after close(): watched again
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="qonys-statement-watch", daemon=True
                )
                self._watcher.start()
        if before is not None:
            os.close(before.duplicate)
        return key

    def stop(self, key: int | None = None) -> None:
        """The statement ``key`` names (by default, this thread's) returned or failed."""
        if key is None:
            key = threading.get_ident()
        if not key:
            return
        with self._lock:
            entry = self._running.pop(key, None)
        if entry is not None:
            os.close(entry.duplicate)

    def ended_connection(self, dbapi_connection: Any) -> bool:
        """Whether the watch ended this connection (its socket shut down)."""
        with self._lock:
            return dbapi_connection in self._gone

    def close(self) -> None:
        """The database disposed of: the watcher ends (until a statement starts again)."""
        with self._lock:
            self._closed = True
            running, self._running = self._running, {}
        for entry in running.values():
            os.close(entry.duplicate)

    def _watch(self) -> None:
        pause = min(1.0, self.limit_s / 4)
        me = threading.current_thread()
        while True:
            time.sleep(pause)
            now = time.monotonic()
            with self._lock:
                if self._closed or self._watcher is not me:
                    return
                late = [(k, r) for k, r in self._running.items() if r.deadline <= now]
                ended = 0
                for key, entry in late:
                    del self._running[key]
                    if _shut(entry.duplicate):
                        ended += 1
                        connection = entry.connection()
                        if connection is not None:
                            self._gone.add(connection)
                    os.close(entry.duplicate)
                self.ended += ended
            if ended and now - self._logged >= 60:
                self._logged = now
                log.warning(
                    "database statements unanswered after %.0f s: their connections ended "
                    "(%d so far in this process)",
                    self.limit_s,
                    self.ended,
                )


def _nothing() -> None:
    return None


def _shut(duplicate: int) -> bool:
    """Shut down the socket behind ``duplicate`` both ways (libpq's own descriptor stays
    open for it to read the end and close); False when it was no longer connected."""
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    finally:
        sock.detach()  # the descriptor stays the caller's to close
    return True


_WATCHES: weakref.WeakSet[StatementWatch] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for watch in list(_WATCHES):
        inherited = list(watch._running.values())
        watch._fresh()
        for entry in inherited:
            with contextlib.suppress(OSError):
                os.close(entry.duplicate)


os.register_at_fork(after_in_child=_after_fork_in_child)
