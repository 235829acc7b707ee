"""The benchmarks' HTTP clients send what they are given over one kept-alive connection
and answer (status, body), libcurl's as http.client's, against a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.common import CLIENTS


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn answers
    connections: set[int] = set()

    def _answer(self) -> None:
        _Echo.connections.add(id(self.connection))
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": sent.decode(),
                "token": self.headers.get("Authorization"),
                "expect": self.headers.get("Expect"),
            }
        ).encode()
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Echo.connections.clear()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kind", sorted(CLIENTS))
def test_each_client_sends_what_it_is_given_on_one_connection(port: int, kind: str) -> None:
    client = CLIENTS[kind](port)
    big = json.dumps({"points": ["x" * 100] * 40})  # over 1 KiB: no wait for a 100
    token = {"Authorization": "Bearer abc"}
    answers = [
        client.request("POST", "/api/v1/checks", b'{"iin": "1"}', token),
        client.request("GET", "/osmand?id=1&lat=51.1", b"", token),
        client.request("POST", "/api/v1/traces", big.encode(), {}),
        client.request("HEAD", "/health"),
        client.request("GET", "/missing"),
        client.request("PUT", "/x", b"put"),
        client.request("GET", "/after-put"),
    ]
    client.close()
    statuses = [status for status, _ in answers]
    assert statuses == [200, 200, 200, 200, 404, 200, 200]
    seen = [json.loads(body) if body else None for _, body in answers]
    assert seen[0] == {
        "method": "POST",
        "path": "/api/v1/checks",
        "body": '{"iin": "1"}',
        "token": "Bearer abc",
        "expect": None,
    }
    assert seen[1] is not None and (seen[1]["method"], seen[1]["body"]) == ("GET", "")
    assert seen[2] is not None and seen[2]["body"] == big and seen[2]["expect"] is None
    assert seen[3] is None  # a HEAD has no body
    assert seen[5] is not None and (seen[5]["method"], seen[5]["body"]) == ("PUT", "put")
    assert seen[6] is not None and seen[6]["method"] == "GET"  # not still a PUT
    assert len(_Echo.connections) == 1  # kept alive throughout
