"""The statement watch on real sockets: a statement past its time has its connection's
socket shut down (the reader sees the end), one that returned is left alone."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from backend.statement_watch import StatementWatch


class _Connection:
    """What the watch asks of psycopg2's connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_a_statement_past_its_time_has_its_socket_shut_and_a_returned_one_is_left() -> None:
    watch = StatementWatch(0.2)
    late_client, late_server = socket.socketpair()
    kept_client, kept_server = socket.socketpair()
    try:
        with watch.running(_Connection(kept_client)):
            pass  # returned at once: forgotten before the watcher looks
        late_client.settimeout(30)  # a bound on the hang, not a speed
        with watch.running(_Connection(late_client)):
            assert late_client.recv(1) == b""  # the end, read as libpq would
        assert watch.ended == 1
        kept_server.sendall(b"x")
        assert kept_client.recv(1) == b"x"  # still open both ways
        kept_client.sendall(b"y")
        assert kept_server.recv(1) == b"y"
    finally:
        for sock in (late_client, late_server, kept_client, kept_server):
            sock.close()


def test_each_thread_has_its_own_statement() -> None:
    watch = StatementWatch(30)
    pairs = [socket.socketpair() for _ in range(2)]
    started = threading.Barrier(3)
    release = threading.Event()

    def run(sock: socket.socket) -> None:
        with watch.running(_Connection(sock)):
            started.wait()
            release.wait(10)

    threads = [threading.Thread(target=run, args=(a,)) for a, _ in pairs]
    for thread in threads:
        thread.start()
    started.wait()
    assert len(watch._running) == 2
    release.set()
    for thread in threads:
        thread.join()
    assert not watch._running and watch.ended == 0
    for a, b in pairs:
        a.close()
        b.close()


def test_a_closed_connection_is_not_watched_and_the_limit_must_be_positive() -> None:
    class Closed:
        def fileno(self) -> int:
            raise OSError("closed")

    watch = StatementWatch(1)
    assert watch.start(Closed()) == 0 and not watch._running
    watch.stop(0)
    with pytest.raises(ValueError):
        StatementWatch(0)
    assert watch._watcher is None


def test_a_connection_the_watch_ended_is_known_and_its_descriptor_is_its_own() -> None:
    """The watch holds a duplicate of the socket: libpq closing its descriptor (and the
    process reusing the number) cannot turn the shut-down on another socket."""
    watch = StatementWatch(0.2)
    ours, theirs = socket.socketpair()
    other, other_peer = socket.socketpair()
    connection = _Connection(ours)
    try:
        key = watch.start(connection)
        ours.close()  # libpq gives up on its own; the number is free again
        reused = socket.socket(fileno=os.dup(other.fileno()))  # may take the same number
        try:
            deadline = time.monotonic() + 30  # a bound on the wait, not a speed
            while watch.ended == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watch.ended == 1 and watch.ended_connection(connection)
            other_peer.sendall(b"x")
            assert reused.recv(1) == b"x"  # the socket now behind the number still works
            reused.sendall(b"y")
            assert other_peer.recv(1) == b"y"
        finally:
            reused.close()
        watch.stop(key)
    finally:
        for sock in (theirs, other, other_peer):
            sock.close()


def test_a_forked_child_starts_with_nothing_running() -> None:
    watch = StatementWatch(30)
    a, b = socket.socketpair()
    try:
        with watch.running(_Connection(a)):
            pid = os.fork()
            if pid == 0:  # the child: nothing of its parent's statements or watcher
                os._exit(0 if not watch._running and watch._watcher is None else 1)
            _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        a.close()
        b.close()
