"""Twilio webhooks: inbound SMS/MMS and delivery status callbacks, signature-checked."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from channels.sms import TwilioSmsAdapter, public_request_url
from channels.sms.signature import SIGNATURE_HEADER
from ticketing.clock import utcnow
from ticketing.domain.contact import Channel, InboundRequest, InvalidInbound
from ticketing.extensions import csrf, db
from ticketing.jobs_inbound import queue_sms_intake
from ticketing.services.sms import apply_status_update
from ticketing.sms_ingest import store_webhook

bp = Blueprint("inbound_sms", __name__, url_prefix="/inbound")
# Providers cannot send our CSRF token; these endpoints authenticate by signature or secret.
csrf.exempt(bp)

#: What Twilio expects back when we send no reply of our own.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
#: A Twilio webhook is a few kilobytes (a 1,600-character body, ten media URLs); anything much
#: larger is not from Twilio and is refused before its form is parsed.
MAX_WEBHOOK_BYTES = 128 * 1024


def _sms_adapter() -> TwilioSmsAdapter:
    registry = current_app.extensions["channels"]
    if Channel.sms not in registry:
        # Without an auth token no signature can be checked, so nothing can be accepted.
        current_app.logger.error("Twilio webhook called but TWILIO_AUTH_TOKEN is not configured")
        abort(503, "SMS is not configured")
    adapter = registry.get(Channel.sms)
    assert isinstance(adapter, TwilioSmsAdapter)
    return adapter


def _public_url() -> str:
    """The URL Twilio called and signed.

    PUBLIC_BASE_URL wins (it is what the Twilio console was given). Without it the request's
    own scheme and host count; behind a proxy, TRUSTED_PROXY_COUNT makes ProxyFix put the
    proxy's X-Forwarded-Proto/Host there first, so they are never read from a client here.
    """
    try:
        return public_request_url(
            current_app.config.get("PUBLIC_BASE_URL"),
            request.script_root + request.full_path,
            request_scheme=request.scheme,
            request_host=request.host,
        )
    except ValueError as error:
        current_app.logger.error("cannot rebuild the Twilio webhook URL: %s", error)
        abort(500)


def _verified_request(adapter: TwilioSmsAdapter, webhook: str) -> InboundRequest:
    """Return the webhook as an InboundRequest, or answer 403 when its signature is wrong."""
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        abort(413)
    body = request.get_data(cache=True)  # kept for the raw store; the form parses from it
    url = _public_url()
    inbound = InboundRequest(
        channel=Channel.sms,
        body=body,
        headers=dict(request.headers),
        form=request.form,
        url=url,
        source=request.remote_addr,
    )
    if not adapter.verify_request(inbound):
        # Not from Twilio: nothing is stored and no ticket is touched, only this audit line.
        signature = request.headers.get(SIGNATURE_HEADER)
        current_app.logger.warning(
            "twilio %s webhook rejected (403): %s X-Twilio-Signature from %s for %s, "
            "MessageSid %r",
            webhook,
            "invalid" if signature else "missing",
            request.remote_addr,
            url,
            (request.form.get("MessageSid") or "")[:64],
        )
        abort(403)
    return inbound


def _twiml() -> Response:
    return Response(EMPTY_TWIML, status=200, mimetype="text/xml")


@bp.post("/twilio/sms")
def twilio_sms() -> Response:
    """Accept one inbound SMS/MMS: verify, store raw, commit, queue its intake; empty TwiML.

    The answer means "held safely": the worker takes the stored webhook in as of the moment
    it arrived (so clocks start then), one at a time in arrival order. A redelivery (Twilio
    retried, or two copies raced) is stored too and becomes a duplicate, never a second
    message; a payload that cannot be read is quarantined, visible in /admin/inbound. Both get
    200: Twilio must not retry what we already hold.
    """
    adapter = _sms_adapter()
    inbound = _verified_request(adapter, "sms")
    record_id = store_webhook(
        inbound.body,
        list(request.form.items(multi=True)),
        url=inbound.url or "",
        signature=request.headers.get(SIGNATURE_HEADER),
        source=inbound.source,
        now=utcnow(),
    )
    db.session.commit()
    queue_sms_intake(record_id)
    return _twiml()


@bp.post("/twilio/status")
def twilio_status() -> Any:
    """Record a delivery status callback: queued, sent, delivered, undelivered, failed.

    Status callbacks are not kept in the raw store: they carry no customer words, and what they
    say is written on the message (state, error code, time) and, for failures, in the ticket
    log. An undocumented status gets 400 (and a log line) so a misconfiguration shows up in
    Twilio's debugger; Twilio does not retry it.
    """
    adapter = _sms_adapter()
    _verified_request(adapter, "status")
    try:
        update = adapter.parse_status_callback(request.form)
    except InvalidInbound as error:
        current_app.logger.warning(
            "twilio status callback refused (400): %s; fields %s",
            error.reason,
            {name: value[:100] for name, value in request.form.items()},
        )
        return jsonify(error="Bad Request", detail=error.reason), 400
    result = apply_status_update(update, now=utcnow())
    db.session.commit()
    if result.outcome == "unknown":
        current_app.logger.info(
            "twilio status %s for unknown MessageSid %s", update.status, update.message_sid
        )
    return Response(status=204)
