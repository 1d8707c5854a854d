"""Admin pages: every raw inbound record, the quarantine with reasons, and reprocessing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from ticketing import jobs_sms
from ticketing.clock import utcnow
from ticketing.domain.contact import Channel
from ticketing.extensions import db
from ticketing.inbound_parsers import ReprocessUnavailable, parser_for
from ticketing.jobs import kick_outbox
from ticketing.models import InboundRecord, InboundStatus, Role
from ticketing.pipeline import IngestOutcome, process_record
from ticketing.services import quarantine
from ticketing.services.intake import IntakeSettings
from ticketing.services.quarantine import QuarantineError
from ticketing.web.access import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50


class DismissForm(FlaskForm):
    reason = TextAreaField(validators=[DataRequired(), Length(max=quarantine.MAX_NOTE)])


@bp.get("/inbound")
@role_required(Role.admin)
def inbound():
    status = request.args.get("status", "quarantined")
    before_id = request.args.get("before", type=int)
    query = sa.select(InboundRecord).order_by(InboundRecord.id.desc()).limit(PAGE_SIZE + 1)
    if status in {s.value for s in InboundStatus}:
        query = query.where(InboundRecord.status == InboundStatus(status))
    if before_id:
        query = query.where(InboundRecord.id < before_id)
    rows = list(db.session.scalars(query))
    counts = dict(
        db.session.execute(
            sa.select(InboundRecord.status, sa.func.count()).group_by(InboundRecord.status)
        ).all()
    )
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "admin/inbound.html",
        rows=rows,
        status=status,
        counts={s.value: counts.get(s, 0) for s in InboundStatus},
        next_before=rows[-1].id if has_more and rows else None,
    )


@bp.get("/inbound/<int:record_id>")
@role_required(Role.admin)
def inbound_record(record_id: int):
    record = db.session.get(InboundRecord, record_id) or abort(404)
    return _render_record(record, DismissForm(formdata=None))


def _render_record(record: InboundRecord, dismiss_form: DismissForm) -> str:
    raw = record.payload[:200_000].decode("utf-8", errors="replace")
    return render_template(
        "admin/inbound_record.html",
        record=record,
        raw=raw,
        raw_truncated=len(record.payload) > 200_000,
        can_reprocess=quarantine.can_reprocess(record),
        can_dismiss=quarantine.can_dismiss(record),
        dismiss_form=dismiss_form,
    )


@bp.post("/inbound/<int:record_id>/reprocess")
@role_required(Role.admin)
def reprocess(record_id: int):
    """Run a quarantined (or dismissed) record through its channel's parser and intake again."""
    # No form of its own: the record in the URL is the whole request, and CSRFProtect has
    # already checked the token.
    record = db.session.get(InboundRecord, record_id) or abort(404)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    now = utcnow()
    try:
        parse = parser_for(app, record.channel)
        quarantine.release_for_reprocessing(record, actor=_acting_admin(), now=now)
    except (QuarantineError, ReprocessUnavailable) as error:
        db.session.rollback()
        flash(str(error), "error")
        return _back_to(record_id)
    # The pipeline commits the release together with the result, or rolls both back and puts
    # the record back in quarantine with the new reason.
    outcome = process_record(record, parse, now=now,
                             settings=IntakeSettings.from_config(app.config))
    _after_reprocessing(record, outcome)
    return _back_to(record_id)


def _after_reprocessing(record: InboundRecord, outcome: IngestOutcome) -> None:
    if outcome.outcome == "quarantined":
        flash(_("Processed again, and quarantined again: %(reason)s", reason=outcome.reason),
              "error")
        return
    if outcome.outcome in ("created", "appended"):
        # Intake may have queued an acknowledgement; the SMS webhook and the form do the same.
        kick_outbox()
        if record.channel == Channel.sms.value:
            _fetch_sms_media(outcome)
    reference = outcome.ticket_reference
    if reference:
        flash(_("Processed again: %(outcome)s, ticket %(reference)s.", outcome=outcome.outcome,
                reference=reference), "success")
    else:
        flash(_("Processed again: %(outcome)s.", outcome=outcome.outcome), "success")


def _fetch_sms_media(outcome: IngestOutcome) -> None:
    for result in outcome.results:
        if result.message is not None:
            jobs_sms.queue_media_fetch(result.message.id)


@bp.post("/inbound/<int:record_id>/dismiss")
@role_required(Role.admin)
def dismiss(record_id: int):
    """Take a record out of the quarantine with a reason; its raw bytes stay."""
    record = db.session.get(InboundRecord, record_id) or abort(404)
    form = DismissForm()
    if not form.validate():
        flash(_("Say why the record is dismissed (at most %(count)d characters).",
                count=quarantine.MAX_NOTE), "error")
        return _render_record(record, form), 422
    try:
        quarantine.dismiss(record, reason=form.reason.data, actor=_acting_admin(), now=utcnow())
    except QuarantineError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _back_to(record_id)
    db.session.commit()
    flash(_("Dismissed. The record and its raw content are kept."), "success")
    return _back_to(record_id)


def _acting_admin() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _back_to(record_id: int) -> Any:
    # 303: the browser follows with a GET, so a reload never posts the action twice.
    return redirect(url_for(".inbound_record", record_id=record_id), 303)
