"""Real local receivers for the outbox's channels: an HTTP endpoint that records what it
is sent (webhooks, an SMS gateway) and an SMTP server (aiosmtpd) that keeps each mail;
a server that hangs, as a frozen dependency does; and a TCP relay to PostgreSQL that
can be cut or frozen."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.engine import make_url

from tests.helpers import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class HttpReceiver:
    """Answers ``status`` (a callable may decide per request); ``hold`` blocks each request
    until set, to let a test kill the sender mid-request."""

    url: str = ""
    status: Any = 200
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event | None = None

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        code = self.status(len(self.requests)) if callable(self.status) else self.status
        self.requests.append(Received(headers, body, code))
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(60)
        return int(code)

    def accepted(self) -> list[Received]:
        """Requests answered 2xx, one per ``webhook-id`` (what a receiver acts on)."""
        seen: dict[str, Received] = {}
        for r in self.requests:
            if 200 <= r.answered < 300:
                seen.setdefault(r.headers.get("webhook-id", str(id(r))), r)
        return list(seen.values())


@contextlib.contextmanager
def http_receiver(**options: Any) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            with contextlib.suppress(OSError):  # the sender may be gone (killed)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@dataclass
class SmtpServer:
    url: str
    mailbox: _Mailbox

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages


@contextlib.contextmanager
def smtp_server(user: str = "qonys", password: str = "s3cret-pass") -> Iterator[SmtpServer]:
    """A real SMTP server on a free port that asks for AUTH (plain text is allowed on
    127.0.0.1: this one offers no STARTTLS, which the client then does not use)."""
    mailbox = _Mailbox()

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        if ok:
            mailbox.logins.append(user)
        return AuthResult(success=ok)

    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(f"smtp://{user}:{password}@127.0.0.1:{controller.port}", mailbox)
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_starttls_server(cert: str, key: str) -> Iterator[SmtpServer]:
    """A real SMTP server that offers STARTTLS and takes AUTH only over TLS."""
    import ssl  # noqa: PLC0415  # only this receiver needs it

    mailbox = _Mailbox()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = session.ssl is not None and isinstance(data, LoginPassword)
        if ok:
            mailbox.logins.append(data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield SmtpServer(f"smtp://clerk:pw@127.0.0.1:{controller.port}", mailbox)
    finally:
        controller.stop()


@dataclass
class Hanging:
    """A TCP server that accepts and reads, and never answers: a dependency that hangs
    (a frozen Redis or PostgreSQL whose kernel still takes the bytes). ``received``
    counts the reads that brought bytes: one per command a client sent."""

    url: str = ""
    received: int = 0


@contextlib.contextmanager
def hanging_server(scheme: str = "redis") -> Iterator[Hanging]:
    listener = socket.create_server(("127.0.0.1", 0))
    hanging = Hanging(url=f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/0")
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                conn.setblocking(False)
                held.append(conn)
            for conn in held:
                with contextlib.suppress(BlockingIOError, OSError):
                    if conn.recv(65536):
                        hanging.received += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield hanging
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


class Relay:
    """A TCP relay to the PostgreSQL of ``database_url``, on a port of its own (``url``
    is that database through it), that can be cut or frozen. Cut (:meth:`cut`), every connection is reset and none accepted until
    :meth:`open` again, as a database gone from the network. Frozen (:meth:`freeze`), it
    takes what either side sends and passes nothing on until :meth:`thaw`, as a stopped
    PostgreSQL (or a stuck middlebox) does while its kernel still acknowledges."""

    def __init__(self, database_url: str) -> None:
        direct = make_url(database_url)
        self.target = (direct.host or "127.0.0.1", direct.port or 5432)
        self.port = free_port()
        self.url = direct.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )
        self.thawed = threading.Event()
        self.thawed.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: dict[tuple[socket.socket, socket.socket], int] = {}  # pipes ended
        self._threads: list[threading.Thread] = []
        self.listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        """Accept connections on :attr:`port` (again, after a cut)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.listener = listener
        self._start(self._accept, listener)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set() and listener is self.listener:
            try:
                inside, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: cut
                return
            try:
                outside = socket.create_connection(self.target)
            except OSError:  # the target refused: so does the relay
                inside.close()
                continue
            with self._lock:
                self._pairs[inside, outside] = 0
            self._start(self._pipe, inside, outside, (inside, outside))
            self._start(self._pipe, outside, inside, (inside, outside))

    def _pipe(
        self, source: socket.socket, sink: socket.socket, pair: tuple[socket.socket, socket.socket]
    ) -> None:
        """Bytes from ``source`` to ``sink``; while frozen, read and held back (so the
        sender's kernel sees them taken), passed on once thawed. An end (FIN) is passed
        on as an end, and the pair's sockets are closed once both of its pipes have
        ended; a reset is passed on as a reset at once. (Passing on nothing of a
        SIGKILLed client's reset kept its PostgreSQL backend, and the locks it held,
        for good.)"""
        try:
            while not self._stop.is_set():
                try:  # blocking sockets, polled: a slow reader never times a send out
                    if not select.select([source], [], [], 0.05)[0]:
                        continue
                    data = source.recv(65536)
                except (OSError, ValueError):  # reset, or closed meanwhile (a cut)
                    self._reset(pair)
                    return
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                while not self.thawed.wait(0.05):
                    if self._stop.is_set():
                        return
                try:
                    sink.sendall(data)
                except OSError:
                    self._reset(pair)
                    return
        finally:
            with self._lock:
                ended = self._pairs.get(pair)
                if ended is not None:
                    self._pairs[pair] = ended + 1
                if ended == 1:
                    del self._pairs[pair]
                    for sock in pair:
                        sock.close()

    def _reset(self, pair: tuple[socket.socket, socket.socket]) -> None:
        """Close both sockets of ``pair`` with a reset (no lingering FIN)."""
        with self._lock:
            self._pairs.pop(pair, None)
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                sock.close()

    def freeze(self) -> None:
        self.thawed.clear()

    def thaw(self) -> None:
        self.thawed.set()

    def cut(self) -> None:
        """Reset every connection and accept none until :meth:`open`."""
        assert self.listener is not None
        self.listener.close()
        self.listener = None
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._reset(pair)

    def close(self) -> None:
        self._stop.set()
        self.thaw()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        with self._lock:
            pairs, self._pairs = list(self._pairs), {}
        for pair in pairs:
            for sock in pair:
                sock.close()
        if self.listener is not None:
            self.listener.close()


@contextlib.contextmanager
def relay(database_url: str) -> Iterator[Relay]:
    """A :class:`Relay` to the database of ``database_url``, closed afterwards."""
    opened = Relay(database_url)
    try:
        yield opened
    finally:
        opened.close()
