"""A local stand-in for Twilio's REST Messages API that records requests and fails on demand."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")

# Texts Twilio answers with for the codes tests ask for most; others get a generic text.
_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received, as Twilio would have seen it."""

    method: str
    path: str
    form: dict[str, list[str]]
    auth: tuple[str, str] | None  # HTTP Basic (account SID, auth token)
    headers: dict[str, str]

    def field(self, name: str) -> str | None:
        """Return the first value of a form field, or None when it was not sent."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    times: int


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: deque[_Failure] = field(default_factory=deque)
    account_sid: str | None = None
    auth_token: str | None = None


class TwilioStandIn:
    """Twilio's Messages API on 127.0.0.1: 201 with an "SM…" sid and status "queued".

    Point the adapter at `url` (its `api_base_url`). With `account_sid`/`auth_token` given,
    wrong credentials get Twilio's 401 (code 20003). `fail_next` makes the next requests fail
    like Twilio does: a 400 with a Twilio error code (21610, 21211, ...), a 429, or a 5xx.
    """

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self._state = _State(account_sid=account_sid, auth_token=auth_token)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TwilioStandIn:
        if self._server is not None:
            return self
        state = self._state

        class Handler(_MessagesHandler):
            shared = state

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="twilio-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what tests use ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def fail_next(
        self, status: int, code: int | None = None, times: int = 1, message: str | None = None
    ) -> None:
        """Answer the next `times` requests with HTTP `status` and Twilio error `code`."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._state.lock:
            self._state.failures.append(_Failure(status, code, message, times))

    def clear(self) -> None:
        """Forget recorded requests and pending failures."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.failures.clear()


class _MessagesHandler(BaseHTTPRequestHandler):
    shared: _State  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._record({})
        self._send_error(404, 20404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        form = parse_qs(raw, keep_blank_values=True)
        auth = self._record(form)

        with self.shared.lock:
            failure = self.shared.failures[0] if self.shared.failures else None
            if failure is not None:
                failure.times -= 1
                if failure.times == 0:
                    self.shared.failures.popleft()
        if failure is not None:
            self._send_error(failure.status, failure.code, failure.message)
            return

        match = _MESSAGES_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._send_error(404, 20404)
            return
        expected = (self.shared.account_sid, self.shared.auth_token)
        if self.shared.account_sid and (auth != expected or match["account"] != expected[0]):
            self._send_error(401, 20003)
            return
        if not form.get("To"):
            self._send_error(400, 21604)
        elif not form.get("From") and not form.get("MessagingServiceSid"):
            self._send_error(400, 21603)
        elif not form.get("Body") and not form.get("MediaUrl"):
            self._send_error(400, 21602)
        else:
            self._send_json(201, _message_resource(match["account"], form))

    def _record(self, form: dict[str, list[str]]) -> tuple[str, str] | None:
        auth = _basic_auth(self.headers.get("Authorization"))
        recorded = RecordedRequest(
            method=self.command,
            path=self.path,
            form=form,
            auth=auth,
            headers={key: value for key, value in self.headers.items()},
        )
        with self.shared.lock:
            self.shared.requests.append(recorded)
        return auth

    def _send_error(self, status: int, code: int | None, message: str | None = None) -> None:
        text = message or _ERROR_MESSAGES.get(code or 0) or "Error"
        payload: dict[str, Any] = {"message": text, "status": status}
        if code is not None:
            payload["code"] = code
            payload["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
        self._send_json(status, payload)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def _message_resource(account_sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    service = form.get("MessagingServiceSid", [None])[0]
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": sid,
        "account_sid": account_sid,
        "messaging_service_sid": service,
        "to": form["To"][0],
        "from": form.get("From", [None])[0],
        "body": form.get("Body", [""])[0],
        # A Messaging Service message starts "accepted" at Twilio; a plain one "queued". The
        # stand-in keeps to "queued" for both, the status our callers see most.
        "status": "queued",
        "num_segments": "1",
        "num_media": str(len(form.get("MediaUrl", []))),
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
    }


@pytest.fixture
def twilio_standin() -> Iterator[TwilioStandIn]:
    """A running stand-in, stopped after the test; register via conftest to share it."""
    with TwilioStandIn() as standin:
        yield standin
