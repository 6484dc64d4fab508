"""Real local HTTP endpoints (127.0.0.1 only) that record what they receive.

Used by the notifier tests and by the end-to-end runs that notify.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest


class Endpoint:
    """What a test server answers and what it received."""

    def __init__(self, responses: list[tuple[Any, ...]] | None = None,
                 default: tuple[Any, ...] = (200, {}), hang: bool = False,
                 gate_first: bool = False, delay: float = 0.0):
        """`responses` (then `default`): (status, headers) or (status, headers, JSON body) to
        answer with, the body `{}` unless given. `delay`: seconds before each answer (a slow
        service: the sender must wait for it)."""
        self.responses = list(responses or [])
        self.delay = delay
        self.default = default
        self.hang = hang
        self.gate = threading.Event() if gate_first else None
        self.release = threading.Event()
        self.got_request = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.answered = 0  # responses sent (a hanging endpoint sends none)
        self.port = 0

    @property
    def bodies(self) -> list[Any]:
        with self.lock:
            return [r["body"] for r in self.requests]

    def wait_for(self, n: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.requests) >= n:
                    return
            time.sleep(0.01)
        raise AssertionError(f"expected {n} requests, got {len(self.requests)}")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        ep: Endpoint = self.server.endpoint
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        with ep.lock:
            ep.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            first = len(ep.requests) == 1
        ep.got_request.set()
        if ep.hang:
            ep.release.wait(120)  # accept, read, never answer (released at teardown)
            return
        if first and ep.gate is not None:
            ep.gate.wait(10)
        if ep.delay:
            time.sleep(ep.delay)
        with ep.lock:
            answer = ep.responses.pop(0) if ep.responses else ep.default
        status, headers = answer[0], answer[1]
        payload = json.dumps(answer[2]).encode() if len(answer) > 2 else b"{}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        with ep.lock:
            ep.answered += 1

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[Callable[..., Endpoint]]:
    """Start `ThreadingHTTPServer`s on 127.0.0.1 (random ports); stopped at teardown."""
    started: list[tuple[http.server.ThreadingHTTPServer, Endpoint]] = []

    def start(port: int = 0, **kw: Any) -> Endpoint:
        """`port`: a given one (a service coming back where it was down), else a free one."""
        ep = Endpoint(**kw)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        srv.daemon_threads = True
        srv.endpoint = ep  # type: ignore[attr-defined]
        ep.port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append((srv, ep))
        return ep

    yield start
    for srv, ep in started:
        ep.release.set()
        if ep.gate is not None:
            ep.gate.set()
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def refused_port() -> int:
    """A loopback port where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


