"""Public pages: the complaint form and the customer's tracking page.

What is stored for a web submission (the raw record that makes reprocessing possible) is a JSON
document rather than the multipart request body: the form has already decoded the fields and
checked the files, and a self-describing document replays without a request object.

    {"format": "ticketing.webform/1", "kind": "complaint" | "reply",
     "fields": {"submission_id", "name", "email", "phone", "category", "order_number",
                "message", "website", "language", "subject", "ticket_id"},
     "attachments": [{"filename", "content_type", "size", "sha256", "content_base64"}]}

`fields` holds what the customer typed (whitespace folded where the form folds it; the honeypot
exactly as sent) plus what the server decided: the language, a subject, and for a reply the
ticket and the customer's address. `parse_web_record` turns a stored record back into contacts
through the WebFormAdapter, the first time and on every reprocessing alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from channels.webform import HONEYPOT_FIELD
from ticketing.clock import utcnow
from ticketing.domain.contact import (
    Channel,
    Contact,
    InboundAttachment,
    InboundRequest,
    InvalidInbound,
)
from ticketing.extensions import db, limiter
from ticketing.jobs import kick_outbox
from ticketing.models import (
    Attachment,
    CustomerIdentity,
    Direction,
    InboundRecord,
    Message,
    Ticket,
    TicketStatus,
)
from ticketing.pipeline import IngestOutcome, ingest_raw
from ticketing.services.attachments import AttachmentStore
from ticketing.services.intake import IntakeSettings
from ticketing.services.tracking import find_tracked_ticket
from ticketing.web.forms_public import (
    ACCEPT_ATTRIBUTE,
    MAX_ATTACHMENTS,
    ComplaintForm,
    ReplyForm,
    UploadedFile,
    human_size,
)

bp = Blueprint("public", __name__)

SUBMISSION_FORMAT = "ticketing.webform/1"

#: Public pages load nothing but our own stylesheet and images: no scripts at all.
PUBLIC_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

#: Message kinds a customer never sees on the tracking page (machine traffic about mail).
HIDDEN_KINDS = frozenset({"auto_reply", "bounce"})

#: How many recent submissions the session remembers for the confirmation page.
REMEMBERED_SUBMISSIONS = 5

#: Downloads keep their type only when a browser cannot run them; the rest are plain bytes.
_DOWNLOAD_TYPES = frozenset(
    {
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif",
        "application/pdf", "text/plain", "text/csv",
    }
)

#: Customer-facing names for ticket statuses, with what they mean for the customer.
STATUS_LABELS: dict[TicketStatus, tuple[Any, Any]] = {
    TicketStatus.new: (_l("Received"), _l("We have received your complaint.")),
    TicketStatus.open: (_l("In progress"), _l("We are working on your complaint.")),
    TicketStatus.pending: (
        _l("Waiting for your reply"),
        _l("We have asked you something. Please reply below."),
    ),
    TicketStatus.on_hold: (
        _l("On hold"),
        _l("We are waiting for someone else, for example a carrier or a supplier."),
    ),
    TicketStatus.solved: (
        _l("Solved"),
        _l("We think your complaint is solved. Reply below if it is not."),
    ),
    TicketStatus.closed: (
        _l("Closed"),
        _l("This complaint is closed. If you reply, we will look at it again."),
    ),
}

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


# --- headers, template helpers and errors shared by every public page ---------------------


@bp.before_request
def _use_public_policy() -> None:
    g.content_security_policy = PUBLIC_CSP


@bp.after_request
def _public_headers(response: Response) -> Response:
    # Set here as well as in `g`: an error raised before this blueprint's before_request (an
    # expired CSRF token, an upload over the size limit) must get the same headers.
    g.content_security_policy = PUBLIC_CSP
    response.headers["Content-Security-Policy"] = PUBLIC_CSP
    # Forms carry a one-time submission id and pages may carry a tracking token: never cached.
    response.headers["Cache-Control"] = "no-store"
    # The token is in the URL of the tracking page; no link may leak it to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.context_processor
def _public_template_helpers() -> dict[str, Any]:
    return {
        "current_locale": _locale_code(),
        "language_links": _language_links(),
        "public_time": public_time,
        "accept_attribute": ACCEPT_ATTRIBUTE,
        "max_attachments": MAX_ATTACHMENTS,
        "max_attachment_size": human_size(current_app.config["ATTACHMENT_MAX_BYTES"]),
        "human_size": human_size,
    }


def _locale_code() -> str:
    locale = get_locale()
    return locale.language if locale is not None else current_app.config["BABEL_DEFAULT_LOCALE"]


def _language_links() -> list[dict[str, Any]]:
    current = _locale_code()
    links = []
    for code in current_app.config["LANGUAGES"]:
        if request.endpoint and request.url_rule is not None and "GET" in request.url_rule.methods:
            url = url_for(request.endpoint, **(request.view_args or {}), lang=code)
        else:
            url = url_for("public.complaint", lang=code)
        links.append(
            {"code": code, "name": LANGUAGE_NAMES.get(code, code), "url": url,
             "current": code == current}
        )
    return links


def public_time(value: datetime | None) -> str:
    """Show an instant in the organisation's timezone, worded for the customer's language."""
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["DISPLAY_TIMEZONE"])
    return format_datetime(value, "d MMMM y, HH:mm", tzinfo=zone, locale=_locale_code())


@bp.errorhandler(CSRFError)
def _csrf_expired(_error: CSRFError) -> Any:
    return _rerender_with_error(
        _(
            "This page was open for too long, or your browser does not accept our cookie. "
            "Nothing was sent. Please check what you typed and send it again."
        ),
        400,
    )


@bp.errorhandler(429)
def _too_many_requests(_error: HTTPException) -> Any:
    return _rerender_with_error(
        _(
            "You have sent several messages in a short time. Nothing was sent this time. "
            "Please wait a few minutes and try again; what you typed is still here."
        ),
        429,
    )


@bp.errorhandler(413)
def _too_large(_error: HTTPException) -> Any:
    # The body was refused before it was read, so the form cannot be shown again filled in.
    limit = human_size(current_app.config["MAX_CONTENT_LENGTH"] or 0)
    return render_template(
        "public/error.html",
        title=_("Your files are too large together"),
        message=_(
            "Everything you send at once can be at most %(limit)s. Nothing was sent. Go back, "
            "choose fewer or smaller files and send your message again.",
            limit=limit,
        ),
    ), 413


@bp.errorhandler(404)
def _not_found(_error: HTTPException | None) -> Any:
    # Unknown, wrong, expired and revoked tracking links all end here, identically.
    return render_template("public/not_found.html"), 404


def _rerender_with_error(message: str, status: int) -> Any:
    """Show the form the customer was filling in again, as typed, with one error on top."""
    if request.endpoint == "public.complaint":
        form = ComplaintForm()
        return _render_complaint(form, extra_errors=[("complaint-form", message)]), status
    if request.endpoint == "public.track":
        ticket = find_tracked_ticket((request.view_args or {}).get("token", ""), now=utcnow())
        if ticket is None:
            # An error handler cannot abort(); answer exactly as an unknown link would.
            return _not_found(None)
        return _render_track(ticket, ReplyForm(), extra_errors=[("reply-form", message)]), status
    return render_template("public/error.html", title=_("Something went wrong"),
                           message=message), status


# --- rate limits ------------------------------------------------------------------------------


def _submission_limit() -> str:
    return current_app.config["COMPLAINT_RATE_LIMIT"]


def _rate_limits_off() -> bool:
    # The limiter is one object shared by every app in the process (tests build several);
    # asking this app's config keeps one app's setting from leaking into another.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


# --- the complaint form -------------------------------------------------------------------


@bp.route("/complaint", methods=["GET", "POST"])
@limiter.limit(_submission_limit, methods=["POST"], exempt_when=_rate_limits_off)
def complaint() -> Any:
    form = ComplaintForm()
    if form.validate_on_submit():
        outcome = ingest_raw(
            Channel.web.value,
            encode_submission("complaint", _complaint_fields(form), form.accepted_files),
            parse_web_record,
            now=utcnow(),
            settings=IntakeSettings.from_config(current_app.config),
            source=request.remote_addr,
            envelope=_envelope(),
        )
        if outcome.outcome in ("created", "appended"):
            kick_outbox()
        _remember_submission(form.submission_id.data, outcome, bool(form.email.data))
        return redirect(
            url_for(".complaint_received", submission_id=form.submission_id.data), 303
        )
    return _render_complaint(form), (422 if form.errors else 200)


def _render_complaint(form: ComplaintForm, extra_errors: Sequence[tuple[str, str]] = ()) -> str:
    errors = _error_summary(form, extra_errors)
    return render_template("public/complaint.html", form=form, errors=errors)


def _error_summary(
    form: ComplaintForm | ReplyForm, extra_errors: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    errors = [*extra_errors, *form.error_summary()]
    if errors and form.had_files():
        errors.append(
            ("attachments", _("Please choose your files again: browsers do not keep them "
                              "after an error."))
        )
    return errors


def _complaint_fields(form: ComplaintForm) -> dict[str, Any]:
    first_line = next((line.strip() for line in form.message.data.splitlines() if line.strip()),
                      "")
    subject = form.category_label()
    if first_line:
        subject = f"{subject}: {first_line[:80]}{'…' if len(first_line) > 80 else ''}"
    return {
        "submission_id": form.submission_id.data,
        "name": form.name.data,
        "email": form.email.data or "",
        "phone": form.phone.data or "",
        "category": form.category.data,
        "order_number": form.order_number.data or "",
        "message": form.message.data,
        HONEYPOT_FIELD: request.form.get(HONEYPOT_FIELD, ""),
        "language": _locale_code(),
        "subject": subject,
    }


def _envelope() -> dict[str, Any]:
    return {
        "path": request.path,
        "remote_addr": request.remote_addr,
        "user_agent": (request.user_agent.string or "")[:300],
        "locale": _locale_code(),
    }


def _remember_submission(submission_id: str, outcome: IngestOutcome, by_email: bool) -> None:
    """Keep what the confirmation page shows in the session (Post/Redirect/Get)."""
    known = list(session.get("web_submissions", []))
    remembered = [entry for entry in known if entry.get("id") != submission_id]
    earlier = next((entry for entry in known if entry.get("id") == submission_id), None)
    result = outcome.results[0] if outcome.results else None
    if outcome.outcome == "duplicate" and earlier is not None:
        entry = earlier  # the same form sent twice: keep what the first answer showed
    else:
        entry = {
            "id": submission_id,
            "outcome": outcome.outcome,
            # Only a new ticket's reference is shown. A message added to an existing complaint
            # may come from anyone who typed that customer's address, so it learns nothing of
            # the earlier complaint; a duplicate needs this form's own secret submission id.
            "reference": (
                outcome.ticket_reference if outcome.outcome in ("created", "duplicate") else None
            ),
            "token": result.tracking_token if result is not None else None,
            "by": "email" if by_email else "sms",
        }
    session["web_submissions"] = [*remembered, entry][-REMEMBERED_SUBMISSIONS:]


@bp.get("/complaint/received/<uuid:submission_id>")
def complaint_received(submission_id: Any) -> Any:
    entry = next(
        (e for e in session.get("web_submissions", []) if e.get("id") == str(submission_id)),
        None,
    )
    if entry is None:
        return redirect(url_for(".complaint"))
    tracking_url = tracking_link(entry["token"]) if entry.get("token") else None
    return render_template("public/received.html", entry=entry, tracking_url=tracking_url)


def tracking_link(token: str) -> str:
    """The customer's private link, the same one the acknowledgement carries."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return f"{base.rstrip('/')}/track/{token}"
    return url_for("public.track", token=token, _external=True)


# --- the tracking page --------------------------------------------------------------------


@bp.route("/track/<token>", methods=["GET", "POST"])
@limiter.limit(_submission_limit, methods=["POST"], exempt_when=_rate_limits_off)
def track(token: str) -> Any:
    ticket = find_tracked_ticket(token, now=utcnow())
    if ticket is None:
        abort(404)
    form = ReplyForm()
    if form.validate_on_submit():
        identity = _reply_identity(ticket)
        if identity is None:
            abort(404)
        outcome = ingest_raw(
            Channel.web.value,
            encode_submission("reply", _reply_fields(form, ticket, identity), form.accepted_files),
            parse_web_record,
            now=utcnow(),
            settings=IntakeSettings.from_config(current_app.config),
            source=request.remote_addr,
            envelope=_envelope(),
        )
        return _after_reply(token, outcome)
    return _render_track(ticket, form), (422 if form.errors else 200)


def _after_reply(token: str, outcome: IngestOutcome) -> Any:
    if outcome.outcome in ("created", "appended"):
        kick_outbox()
    result = outcome.results[0] if outcome.results else None
    if outcome.outcome == "created" and result is not None and result.tracking_token:
        # The old complaint was closed for good, so intake opened a follow-up: show that one.
        flash(
            _(
                "Your earlier complaint was already closed, so we opened a new one for your "
                "reply: %(reference)s.",
                reference=outcome.ticket_reference,
            ),
            "success",
        )
        return redirect(url_for(".track", token=result.tracking_token, _anchor="latest"), 303)
    if outcome.outcome in ("appended", "duplicate"):
        flash(_("Thank you. Your reply has been added to your complaint."), "success")
    else:
        flash(_("Thank you. We have received your reply."), "success")
    return redirect(url_for(".track", token=token, _anchor="latest"), 303)


def _render_track(
    ticket: Ticket, form: ReplyForm, extra_errors: Sequence[tuple[str, str]] = ()
) -> str:
    errors = _error_summary(form, extra_errors)
    label, explanation = STATUS_LABELS.get(ticket.status, (ticket.status.value, ""))
    return render_template(
        "public/track.html",
        ticket=ticket,
        status_label=label,
        status_explanation=explanation,
        conversation=public_conversation(ticket),
        form=form,
        errors=errors,
        token=request.view_args.get("token") if request.view_args else None,
    )


def public_conversation(ticket: Ticket) -> list[Message]:
    """The messages the customer may see: theirs and ours, never notes or machine traffic.

    Only messages from or to this ticket's customer are shown, so a merge or a mistaken thread
    can never put another customer's words in front of them.
    """
    return [
        message for message in ticket.messages
        if message.direction != Direction.note
        and message.kind not in HIDDEN_KINDS
        and (message.identity is None or message.identity.customer_id == ticket.customer_id)
    ]


def _reply_identity(ticket: Ticket) -> CustomerIdentity | None:
    """The address the customer's reply is recorded under: the one they last wrote from."""
    for message in reversed(ticket.messages):
        identity = message.identity
        if (
            message.direction == Direction.inbound
            and identity is not None
            and identity.customer_id == ticket.customer_id
        ):
            return identity
    identities = ticket.customer.identities
    return identities[0] if identities else None


def _reply_fields(form: ReplyForm, ticket: Ticket, identity: CustomerIdentity) -> dict[str, Any]:
    return {
        "submission_id": form.submission_id.data,
        "name": ticket.customer.name or "",
        "email": identity.address if identity.kind == "email" else "",
        "phone": identity.address if identity.kind == "phone" else "",
        "message": form.message.data or "",
        HONEYPOT_FIELD: request.form.get(HONEYPOT_FIELD, ""),
        "language": _locale_code(),
        "ticket_id": ticket.id,
    }


@bp.get("/track/<token>/attachments/<int:attachment_id>")
def track_attachment(token: str, attachment_id: int) -> Any:
    ticket = find_tracked_ticket(token, now=utcnow())
    if ticket is None:
        abort(404)
    attachment = db.session.get(Attachment, attachment_id)
    if (
        attachment is None
        or attachment.sha256 is None
        or attachment.message.ticket_id != ticket.id
        or attachment.message not in public_conversation(ticket)
    ):
        abort(404)
    path = AttachmentStore(current_app.config["ATTACHMENT_STORAGE_PATH"]).path_for(
        attachment.sha256
    )
    if not path.exists():
        abort(404)
    mimetype = (
        attachment.content_type
        if attachment.content_type in _DOWNLOAD_TYPES
        else "application/octet-stream"
    )
    # Always a download, never shown inline in our origin.
    return send_file(path, mimetype=mimetype, as_attachment=True,
                     download_name=attachment.filename, max_age=0)


# --- the stored submission: encode, decode, parse -------------------------------------------


def encode_submission(
    kind: str, fields: Mapping[str, Any], files: Sequence[UploadedFile]
) -> bytes:
    """Serialise a submission as the raw record's payload (see the module docstring)."""
    document = {
        "format": SUBMISSION_FORMAT,
        "kind": kind,
        "fields": dict(fields),
        "attachments": [
            {
                "filename": item.filename,
                "content_type": item.content_type,
                "size": len(item.data),
                "sha256": hashlib.sha256(item.data).hexdigest(),
                "content_base64": base64.b64encode(item.data).decode("ascii"),
            }
            for item in files
        ],
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def submission_request(record: InboundRecord) -> InboundRequest:
    """Rebuild the adapter's input from a stored web-form record.

    Raises:
        InvalidInbound: when the payload is not a submission this version can read.
    """
    try:
        document = json.loads(record.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidInbound(f"not a web-form submission: {error}") from None
    if not isinstance(document, dict) or document.get("format") != SUBMISSION_FORMAT:
        raise InvalidInbound("not a web-form submission: unknown format")
    fields = document.get("fields")
    if not isinstance(fields, dict):
        raise InvalidInbound("web-form submission without fields")
    attachments = []
    for item in document.get("attachments") or []:
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
            filename, content_type = str(item["filename"]), str(item["content_type"])
        except (KeyError, TypeError, binascii.Error) as error:
            raise InvalidInbound(f"unreadable attachment in submission: {error}") from None
        if hashlib.sha256(data).hexdigest() != item.get("sha256"):
            raise InvalidInbound(f"attachment {filename!r} does not match its checksum")
        attachments.append(InboundAttachment(filename, content_type, data=data))
    form = {str(key): value for key, value in fields.items()}
    form["attachments"] = tuple(attachments)
    return InboundRequest(
        channel=Channel.web,
        body=record.payload,
        form=form,
        received_at=record.received_at,
        source=record.source,
    )


def parse_web_record(record: InboundRecord) -> list[Contact]:
    """Turn a stored web-form record into contacts (the pipeline's parser for channel "web")."""
    adapter = current_app.extensions["channels"].get(Channel.web)
    return adapter.parse_inbound(submission_request(record))
