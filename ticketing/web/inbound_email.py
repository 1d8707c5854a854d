"""POST /inbound/email: raw MIME pushed by a mail provider, authenticated by a shared secret."""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from ticketing.extensions import csrf

bp = Blueprint("inbound_email", __name__, url_prefix="/inbound")
# Providers cannot send our CSRF token; the shared secret authenticates them instead.
csrf.exempt(bp)


def _authorised() -> bool:
    secret = current_app.config.get("INBOUND_EMAIL_SECRET")
    if not secret:
        return False
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else (
        request.headers.get("X-Inbound-Secret", "")
    )
    return hmac.compare_digest(given.encode(), secret.encode())


@bp.post("/email")
def receive_email():
    if not _authorised():
        current_app.logger.warning("inbound e-mail refused: bad secret from %s",
                                   request.remote_addr)
        abort(401)
    raw = request.get_data(cache=False)
    if not raw:
        abort(400, description="the body must be the raw message (RFC 822)")
    if len(raw) > current_app.config["EMAIL_MAX_BYTES"]:
        abort(413)
    from ticketing.jobs import kick_outbox
    from ticketing.mail_ingest import ingest_mail, outcome_line

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    source = f"http:{request.remote_addr}"
    outcome = ingest_mail(app, raw, source=source, envelope={
        "headers": {k: v for k, v in request.headers.items()
                    if k.lower() in {"x-envelope-from", "envelope-from"}},
    })
    kick_outbox()
    return jsonify(outcome_line(outcome, source)), 202
