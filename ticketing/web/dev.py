"""GET /dev/outbox: what was sent, or would have been sent without a configured provider."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from ticketing.extensions import db
from ticketing.models import OutboxMessage, Role
from ticketing.web.access import role_required

bp = Blueprint("dev", __name__, url_prefix="/dev")

PAGE_SIZE = 50


@bp.get("/outbox")
@role_required(Role.admin)
def outbox():
    before_id = request.args.get("before", type=int)
    channel = request.args.get("channel")
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE + 1)
    if before_id:
        query = query.where(OutboxMessage.id < before_id)
    if channel in {"email", "sms"}:
        query = query.where(OutboxMessage.channel == channel)
    rows = list(db.session.scalars(query))
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "dev/outbox.html",
        rows=rows,
        channel=channel,
        next_before=rows[-1].id if has_more and rows else None,
    )
