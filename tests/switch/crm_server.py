"""A real CRM for the live proofs of interactive processing (IVX): an `http.server` on
127.0.0.1 that notes the query of every request and answers 200 with what a test module's
subclass says in `answer`."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class Reply:
    """The body of the CRM's 200 answer and its Content-Type."""

    body: bytes
    content_type: str = "application/json"

    @classmethod
    def of_json(cls, value: Any) -> Reply:
        return cls(json.dumps(value).encode())


@dataclass
class CrmServer(ABC):
    """The server; `requests` are the queries it got, oldest first."""

    requests: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @abstractmethod
    def answer(self, query: dict[str, str]) -> Reply:
        """What to answer the request of `query` (on the request's own thread: a CRM too slow
        for vpbx sleeps here)."""

    def start(self) -> Self:
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                crm.requests.append(query)
                reply = crm.answer(query)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # vpbx gave up waiting and closed the connection

            def log_message(self, *_: Any) -> None:
                pass  # no line on stderr per request

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/crm"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
