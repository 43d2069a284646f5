"""A local HTTP server that records every request it receives, for the notification tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Receiver:
    """``url(path)`` for a target; ``requests(path)`` what arrived; ``fail(path, n, code)`` answers code n times first."""

    server: ThreadingHTTPServer
    received: list[Request] = field(default_factory=list)
    failing: dict[str, list[int]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def requests(self, path: str) -> list[Request]:
        return [r for r in self.received if r.path == path]

    def fail(self, path: str, times: int, code: int = 503) -> None:
        self.failing[path] = [code] * times


def start() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            receiver.received.append(Request(self.path, dict(self.headers), body, raw))
            codes = receiver.failing.get(self.path)
            code = codes.pop(0) if codes else 202
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "success"}')

        do_PUT = do_POST  # the Pushgateway's verb

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
