"""A statement the database never answers ends its connection, not its request thread.

The API's statements are bounded by the server (``statement_timeout``, see
:class:`backend.db.Database`): past it PostgreSQL cancels them and says so. A server that
cannot say so — frozen (a stopped process, storage that no longer returns), or a proxy
between that took the bytes and went silent — is not seen by TCP either: its kernel
acknowledges what is sent, and the keepalives (``db.TCP_LIVENESS``) are answered. The
statement then waits for good, and with it the request's thread; the attack's "hang"
drill held every API thread until the database came back.

:class:`StatementWatch` notes each statement as it starts (the thread, its connection's
socket, when it must have ended: the server's bound plus a margin) and forgets it when
it returns. A watcher thread of the process shuts down the socket of a statement past
its time. libpq then reads the end of the connection, psycopg2 raises
``OperationalError`` and SQLAlchemy discards the connection (and replaces the pool's
older ones): the request is answered 503 as in any database outage, and the next
statement opens a fresh connection.

The check and the shut-down happen under the watch's lock, and a statement is forgotten
under it before its connection can go back to the pool: a socket is only ever shut for
the statement it was noted for. Noting a statement costs a dictionary write under a lock
(about a microsecond); the watcher wakes a few times per margin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("qonys.outage")


@dataclass
class _Running:
    fileno: int
    deadline: float  # time.monotonic()


class StatementWatch:
    """Ends the connections of statements that outlive ``limit_s`` seconds."""

    def __init__(self, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError("a statement watch needs a positive limit")
        self.limit_s = limit_s
        self.ended = 0  # connections this process ended (tests and the log read it)
        self._logged = 0.0  # when the log last said so: once a minute, not per request
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._pid = 0

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
            fileno = dbapi_connection.fileno()
        except Exception:  # closed: the statement will fail at once on its own
            return 0
        key = threading.get_ident()
        with self._lock:
            self._running[key] = _Running(fileno, time.monotonic() + self.limit_s)
            if self._pid != os.getpid():  # the first statement here, or after a fork
                self._pid = os.getpid()
                self._watcher = threading.Thread(
                    target=self._watch, name="qonys-statement-watch", daemon=True
                )
                self._watcher.start()
        return key

    def stop(self, key: int | None = None) -> None:
        """The statement ``key`` names (by default, this thread's) returned or failed."""
        if key is None:
            key = threading.get_ident()
        if key:
            with self._lock:
                self._running.pop(key, None)

    def _watch(self) -> None:
        pause = min(1.0, self.limit_s / 4)
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(pause)
            now = time.monotonic()
            with self._lock:
                late = [(k, r) for k, r in self._running.items() if r.deadline <= now]
                for key, statement in late:
                    del self._running[key]
                    self._end(statement.fileno)

    def _end(self, fileno: int) -> None:
        """Shut the connection's socket down (a duplicate of its descriptor, so that
        libpq's own stays open for it to read the end and close)."""
        try:
            duplicate = os.dup(fileno)
        except OSError:
            return
        try:
            with socket.socket(fileno=duplicate) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed by the other side
            return
        self.ended += 1
        now = time.monotonic()
        if now - self._logged >= 60:
            self._logged = now
            log.warning(
                "database statements unanswered after %.0f s: their connections ended "
                "(%d so far in this process)",
                self.limit_s,
                self.ended,
            )
