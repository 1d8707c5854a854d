"""Sending queued webhook deliveries: signed HTTP POSTs with retries, run by the worker.

Entry-point level (like jobs and CLI commands): it reads the clock, does the HTTP and commits
after every attempt, so a crash never repeats an attempt that was already recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import WebhookDelivery
from ticketing.services import webhooks
from ticketing.services.webhooks import AttemptResult

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Complaints-Signature"
DELIVERY_HEADER = "X-Complaints-Delivery"
EVENT_HEADER = "X-Complaints-Event"
USER_AGENT = "ComplaintTracker-Webhooks/1.0"
#: defaults for settings the app config may override
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_TIMEOUT_SECONDS = 10
DEFAULT_BATCH_SIZE = 100
#: how much of a receiver's answer the delivery log keeps
RESPONSE_EXCERPT_BYTES = 2048
#: receivers should refuse signatures older than this (replayed requests)
SIGNATURE_TOLERANCE = timedelta(minutes=5)

Sender = Callable[[str, bytes, Mapping[str, str], float], AttemptResult]


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed; identical on every retry of a delivery."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 in hex over "<timestamp>.<body>" with the endpoint's secret."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    header: str,
    body: bytes,
    secret: str,
    *,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """Check a signature header the way a receiver should (also used by our own tests).

    Accepts any `v1` value in the header (several appear while a receiver rotates secrets) and
    refuses timestamps further than `tolerance` from `now`, which stops replays.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    # A signed payload goes to the configured URL only: a redirect is an answer, not a hop.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_RefuseRedirects)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> AttemptResult:
    """POST once with urllib; every outcome becomes an AttemptResult, never an exception."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _opener.open(request, timeout=timeout) as response:
            excerpt = response.read(RESPONSE_EXCERPT_BYTES)
            return AttemptResult(
                status_code=response.status,
                duration_ms=elapsed(),
                response_excerpt=excerpt.decode("utf-8", errors="replace") or None,
            )
    except urllib.error.HTTPError as error:
        try:
            excerpt = error.read(RESPONSE_EXCERPT_BYTES).decode("utf-8", errors="replace")
        except OSError:
            excerpt = ""
        finally:
            error.close()
        reason = f"HTTP {error.code} {error.reason}".strip()
        if 300 <= error.code < 400:
            reason += " (redirects are not followed; configure the final URL)"
        return AttemptResult(
            status_code=error.code,
            duration_ms=elapsed(),
            error=reason,
            response_excerpt=excerpt or None,
        )
    except urllib.error.URLError as error:
        return AttemptResult(None, elapsed(), error=f"connection failed: {error.reason}")
    except TimeoutError:
        return AttemptResult(None, elapsed(), error=f"no answer within {timeout:g} s")
    except (OSError, ValueError) as error:
        return AttemptResult(None, elapsed(), error=f"{error.__class__.__name__}: {error}")


def deliver_due(
    now: datetime | None = None,
    *,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    send: Sender = post,
) -> dict[str, int]:
    """Attempt every due delivery once; commit after each attempt.

    `now` picks the due rows; each attempt is stamped and signed with a fresh reading of
    `clock`, because receivers compare the signature's timestamp with their own clock.
    """
    config = current_app.config
    now = now or clock()
    max_attempts = config.get("WEBHOOK_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    timeout = config.get("WEBHOOK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)
    # Events recorded by set-based sweeps (SLA warnings and breaches) are queued here.
    webhooks.announce_recorded_events(now=now)
    db.session.commit()
    ids = webhooks.claim_due(now, limit=limit or config.get("WEBHOOK_BATCH_SIZE", 100))
    db.session.commit()
    summary = {"delivered": 0, "retrying": 0, "failed": 0}
    for delivery_id in ids:
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            continue
        body = encode_body(delivery.payload)
        sent_at = clock()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.delivery_id,
            SIGNATURE_HEADER: signature_header(
                delivery.endpoint.secret, int(sent_at.timestamp()), body
            ),
        }
        try:
            result = send(delivery.endpoint.url, body, headers, timeout)
        except Exception as error:  # noqa: BLE001 - one bad receiver must not stop the batch
            log.exception("webhook delivery %s: sender raised", delivery.delivery_id)
            result = AttemptResult(None, error=f"{error.__class__.__name__}: {error}")
        webhooks.record_attempt(delivery, result, now=clock(), max_attempts=max_attempts)
        db.session.commit()
        if delivery.status == "delivered":
            summary["delivered"] += 1
        elif delivery.status == "failed":
            summary["failed"] += 1
        else:
            summary["retrying"] += 1
    if ids:
        log.info("webhooks: %s", summary)
    return summary


@click.group("webhooks")
def webhooks_group() -> None:
    """Outbound webhooks: deliver now, prune the delivery log."""


@webhooks_group.command("deliver")
@click.option("--limit", type=int, default=None, help="At most this many deliveries.")
@with_appcontext
def deliver_command(limit: int | None) -> None:
    """Attempt every due webhook delivery once."""
    click.echo(json.dumps(deliver_due(utcnow(), limit=limit)))


@webhooks_group.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=webhooks.MIN_LOG_DAYS),
    default=30,
    show_default=True,
    help="Keep this many days.",
)
@with_appcontext
def prune_command(days: int) -> None:
    """Delete finished deliveries (and their attempt log) older than --days."""
    now = utcnow()
    removed = webhooks.prune_deliveries(before=now - timedelta(days=days), now=now)
    db.session.commit()
    click.echo(f"removed {removed} deliveries")
