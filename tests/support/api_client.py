"""API test helpers: bearer tokens, and a local webhook receiver that checks signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@pytest.fixture
def api_headers(db_session, make_user, now) -> Callable[..., dict[str, str]]:
    """Return headers with a fresh bearer token for a user (default: a new agent)."""
    from ticketing.services.accounts import create_api_token

    def factory(user: Any = None, *, role: str = "agent") -> dict[str, str]:
        user = user or make_user(role)
        _token, secret = create_api_token(user, "test", now=now)
        db_session.flush()
        return {"Authorization": f"Bearer {secret}"}

    return factory


@dataclass
class ReceivedHook:
    headers: dict[str, str]
    body: bytes
    #: whether the receiver found the signature valid (independently of the app's own code)
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A stdlib HTTP server on 127.0.0.1 that records webhook POSTs and answers as told."""

    secret: str = ""
    received: list[ReceivedHook] = field(default_factory=list)
    #: statuses to answer with, in order; afterwards 200
    script: list[int] = field(default_factory=list)
    #: a Location to send with 3xx answers
    redirect_to: str | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def fail_next(self, *statuses: int) -> None:
        self.script.extend(statuses)

    def check(self, header: str, body: bytes) -> bool:
        """Verify "t=<unix>,v1=<hex>" the way the API documentation tells receivers to."""
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        timestamp = parts.get("t", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            signature = self.headers.get("X-Complaints-Signature", "")
            receiver.received.append(
                ReceivedHook(dict(self.headers.items()), body, receiver.check(signature, body))
            )
            status = receiver.script.pop(0) if receiver.script else 200
            answer = json.dumps({"status": status}).encode()
            self.send_response(status)
            if 300 <= status < 400 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
