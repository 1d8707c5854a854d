"""Agent back office: queues, the ticket page, its actions, and the JSON the page polls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ticketing import jobs
from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import (
    Attachment,
    CustomerIdentity,
    Direction,
    Message,
    Priority,
    Role,
    SlaClock,
    Team,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from ticketing.services import canned, queues, ticket_actions
from ticketing.services.attachments import AttachmentStore
from ticketing.services.sms import sms_draft_info
from ticketing.services.ticket_actions import ActionError, NewerMessagesError
from ticketing.services.tickets import ticket_messages
from ticketing.web.access import get_ticket_or_404, role_required

bp = Blueprint("agent", __name__)

#: the isolated frame for customer HTML: nothing may load or run, only inline styles and
#: embedded images; `sandbox` gives the document an opaque origin even if the frame attribute
#: were lost
CUSTOMER_HTML_CSP = (
    "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; sandbox; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
#: content types a browser may show inline from our origin; everything else downloads
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_REFERENCE_RE = re.compile(r"^T-\d+$")
#: events whose message the timeline already shows
_MESSAGE_EVENTS = frozenset(
    {"message.received", "reply.sent", "note.added", "acknowledgement.sent",
     "auto_reply.received"}
)
#: SLA events the timeline shows from the clocks themselves
_CLOCK_EVENTS = frozenset(
    {"sla.started", "sla.paused", "sla.resumed", "sla.stopped", "sla.met", "sla.breached"}
)
_METRIC_LABELS = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


# --- forms --------------------------------------------------------------------------------------


class ReplyForm(FlaskForm):
    text = TextAreaField(validators=[Length(max=100_000)])
    identity_id = IntegerField(validators=[Optional()])
    status_after = StringField(validators=[Optional(), Length(max=20)])
    seen_message_id = IntegerField(validators=[Optional()])
    confirm = BooleanField()
    canned_id = IntegerField(validators=[Optional()])


class NoteForm(FlaskForm):
    text = TextAreaField(validators=[DataRequired(), Length(max=100_000)])


class AssignForm(FlaskForm):
    assignee_id = IntegerField(validators=[Optional()])
    team_id = IntegerField(validators=[Optional()])


class ChoiceForm(FlaskForm):
    value = StringField(validators=[DataRequired(), Length(max=20)])


class TagsForm(FlaskForm):
    tags = StringField(validators=[Optional(), Length(max=2000)])


class ReferenceForm(FlaskForm):
    reference = StringField(validators=[DataRequired(), Length(max=40)])


class SplitForm(FlaskForm):
    subject = StringField(validators=[Optional(), Length(max=300)])


class PresenceForm(FlaskForm):
    replying = BooleanField()
    seen = IntegerField(validators=[Optional()])


class SegmentsForm(FlaskForm):
    text = TextAreaField(validators=[Length(max=100_000)])


# --- queues -------------------------------------------------------------------------------------


@bp.get("/")
@role_required(Role.agent)
def queue():
    return render_template("agent/queue.html", **_queue_context(utcnow()))


@bp.get("/queue.json")
@role_required(Role.agent)
def queue_json():
    context = _queue_context(utcnow())
    rows = render_template("agent/_queue_rows.html", **context)
    return jsonify(
        queue=context["queue"].name,
        search=context["search"],
        counts=context["counts"],
        search_count=context["search_count"],
        next_cursor=context["page"].next_cursor,
        tickets=[ticket.reference for ticket in context["page"].tickets],
        rows_html=rows,
    )


def _queue_context(now: datetime) -> dict[str, Any]:
    me = _me()
    search = (request.args.get("q") or "").strip()
    after = request.args.get("after") or None
    region = current_app.config["DEFAULT_PHONE_REGION"]
    try:
        queue_def = queues.get_queue(request.args.get("queue"))
        if search:
            page = queues.search_tickets(search, after=after, default_region=region)
        else:
            page = queues.list_queue(queue_def.name, me, now=now, after=after)
    except queues.QueueError as error:
        abort(400, description=str(error))
    return {
        "queue": queue_def,
        "queues": queues.QUEUES,
        "search": search,
        "page": page,
        "after": after,
        "counts": queues.count_queues(me, now=now),
        "search_count": queues.count_search(search, default_region=region) if search else None,
        "count_cap": queues.COUNT_CAP,
        "live_state": queues.live_sla_state,
        "now": now,
    }


# --- the ticket page ----------------------------------------------------------------------------


@bp.get("/tickets/<reference>")
@role_required(Role.agent)
def ticket(reference: str):
    ticket = get_ticket_or_404(reference)
    now = utcnow()
    me = _me()
    draft = ""
    canned_id = request.args.get("canned", type=int)
    if canned_id:
        filled = canned.fill_canned(canned_id, ticket, me)
        draft = filled.text if filled is not None else ""
    page = render_template("agent/ticket.html", **_ticket_context(ticket, now, draft=draft))
    # After rendering: the commit expires every loaded object, which the page would reload.
    _note_presence(ticket, me, now)
    return page


@bp.get("/tickets/<reference>/fragments")
@role_required(Role.agent)
def ticket_fragments(reference: str):
    """The parts of the ticket page that change while it is open, for the page to swap in."""
    ticket = get_ticket_or_404(reference)
    context = _ticket_context(ticket, utcnow())
    return jsonify(
        version=context["version"],
        seen_message_id=context["seen_message_id"],
        timeline=render_template("agent/_timeline.html", **context),
        sidebar=render_template("agent/_ticket_state.html", **context),
        summary=render_template("agent/_ticket_summary.html", **context),
    )


@bp.post("/tickets/<reference>/presence")
@role_required(Role.agent)
def presence(reference: str):
    """Polled every few seconds: note this agent, say who else is here and what is new."""
    ticket = get_ticket_or_404(reference)
    form = PresenceForm()
    if not form.validate():
        abort(400)
    now = utcnow()
    me = _me()
    _note_presence(ticket, me, now, is_replying=bool(form.replying.data))
    viewers = ticket_actions.other_viewers(ticket, actor=me, now=now)
    newer = ticket_actions.newer_customer_messages(ticket, form.seen.data) if form.seen.data else []
    return jsonify(
        viewers=[{"name": viewer.name, "replying": viewer.is_replying} for viewer in viewers],
        newer_messages=len(newer),
        version=_version(ticket),
        status=ticket.status.value,
    )


def _note_presence(ticket: Ticket, me: User, now: datetime, *, is_replying: bool = False) -> None:
    """Record that this agent has the ticket open; never fail the page over it."""
    try:
        ticket_actions.update_presence(ticket, actor=me, now=now, is_replying=is_replying)
        db.session.commit()
    except OperationalError:
        # A busy embedded SQLite refuses a write that began as a read; presence is only a hint
        # (the next poll records it), while the page itself must still load.
        db.session.rollback()
        current_app.logger.info("presence not recorded for %s: database busy", ticket.reference)


@bp.post("/tickets/<reference>/presence/leave")
@role_required(Role.agent)
def leave(reference: str):
    ticket = get_ticket_or_404(reference)
    ticket_actions.leave_ticket(ticket, actor=_me(), now=utcnow())
    db.session.commit()
    return Response(status=204)


@bp.get("/messages/<int:message_id>/html")
@role_required(Role.agent)
def message_html(message_id: int):
    """A customer's sanitised HTML on its own, for a sandboxed frame: never inline in a page."""
    message = db.session.get(Message, message_id)
    if message is None or not message.html:
        abort(404)
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"></head><body>'
        f"{message.html}</body></html>"
    )
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CUSTOMER_HTML_CSP
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/attachments/<int:attachment_id>")
@role_required(Role.agent)
def attachment(attachment_id: int):
    item = db.session.get(Attachment, attachment_id)
    if item is None or not item.sha256:
        abort(404)
    try:
        data = AttachmentStore(current_app.config["ATTACHMENT_STORAGE_PATH"]).get(item.sha256)
    except (OSError, ValueError):
        abort(404)
    inline = item.content_type in _INLINE_TYPES and request.args.get("download") is None
    response = Response(data, mimetype=item.content_type if inline else "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = _content_disposition(disposition, item.filename)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _content_disposition(disposition: str, filename: str) -> str:
    from urllib.parse import quote

    ascii_name = re.sub(r'[^A-Za-z0-9._ -]', "_", filename)[:150] or "attachment"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@bp.post("/sms/segments")
@role_required(Role.agent)
def sms_segments():
    """Live SMS counter for the reply box: the same rules as the send path."""
    form = SegmentsForm()
    form.validate()
    return jsonify(sms_draft_info((form.text.data or "").replace("\r\n", "\n")).as_dict())


# --- actions ------------------------------------------------------------------------------------


@bp.post("/tickets/<reference>/reply")
@role_required(Role.agent)
def reply(reference: str):
    ticket = get_ticket_or_404(reference)
    form = ReplyForm()
    if not form.validate():
        abort(400)
    now = utcnow()
    me = _me()
    text = form.text.data or ""
    identity = _identity_for(ticket, form.identity_id.data)
    if form.canned_id.data and "insert_canned" in request.form:
        filled = canned.fill_canned(form.canned_id.data, ticket, me)
        if filled is not None:
            text = f"{text.rstrip()}\n\n{filled.text}".lstrip() if text.strip() else filled.text
        return _rerender(ticket, now, draft=text, identity=identity)
    if "preview" in request.form:
        return _rerender(ticket, now, draft=text, identity=identity, preview=True)
    status_after = _status_or_none(form.status_after.data)
    try:
        message = ticket_actions.reply(
            ticket,
            text,
            actor=me,
            now=now,
            settings=ticket_actions.OutboundSettings.from_config(current_app.config),
            identity=identity,
            status_after=status_after,
            seen_message_id=form.seen_message_id.data,
            confirmed=bool(form.confirm.data),
        )
    except NewerMessagesError as warning:
        db.session.rollback()
        return _rerender(ticket, now, draft=text, identity=identity, newer=warning, status=409)
    except ActionError as error:
        db.session.rollback()
        return _rerender(ticket, now, draft=text, identity=identity, error=str(error), status=422)
    db.session.commit()
    jobs.kick_outbox()
    flash(_("Reply sent by %(channel)s to %(address)s.", channel=_channel_name(message.channel),
            address=message.identity.address if message.identity else ""), "success")
    return redirect(_ticket_url(ticket))


def _rerender(
    ticket: Ticket,
    now: datetime,
    *,
    draft: str,
    identity: CustomerIdentity | None,
    newer: NewerMessagesError | None = None,
    error: str | None = None,
    preview: bool = False,
    status: int = 200,
) -> tuple[str, int]:
    context = _ticket_context(
        ticket, now, draft=draft, identity=identity, newer=newer, reply_error=error,
        preview=preview,
    )
    return render_template("agent/ticket.html", **context), status


@bp.post("/tickets/<reference>/note")
@role_required(Role.agent)
def note(reference: str):
    ticket = get_ticket_or_404(reference)
    form = NoteForm()
    if not form.validate():
        flash(_("The note is empty."), "error")
        return redirect(_ticket_url(ticket))
    return _act(ticket, lambda now: ticket_actions.add_note(
        ticket, form.text.data or "", actor=_me(), now=now
    ), _("Note added."))


@bp.post("/tickets/<reference>/assign")
@role_required(Role.agent)
def assign(reference: str):
    ticket = get_ticket_or_404(reference)
    form = AssignForm()
    if not form.validate():
        abort(400)
    assignee = db.session.get(User, form.assignee_id.data) if form.assignee_id.data else None
    team = db.session.get(Team, form.team_id.data) if form.team_id.data else None
    if (form.assignee_id.data and assignee is None) or (form.team_id.data and team is None):
        abort(400, description="no such agent or team")
    return _act(ticket, lambda now: ticket_actions.assign(
        ticket, assignee=assignee, team=team, actor=_me(), now=now
    ), _("Assignment saved."))


@bp.post("/tickets/<reference>/claim")
@role_required(Role.agent)
def claim(reference: str):
    ticket = get_ticket_or_404(reference)
    FlaskForm().validate()
    return _act(ticket, lambda now: ticket_actions.claim(ticket, actor=_me(), now=now),
                _("The ticket is yours."))


@bp.post("/tickets/<reference>/status")
@role_required(Role.agent)
def status(reference: str):
    ticket = get_ticket_or_404(reference)
    form = ChoiceForm()
    new_status = _status_or_none(form.value.data) if form.validate() else None
    if new_status is None:
        abort(400, description="unknown status")
    return _act(ticket, lambda now: ticket_actions.set_status(
        ticket, new_status, actor=_me(), now=now
    ), _("Status set to %(status)s.", status=_status_label(new_status)))


@bp.post("/tickets/<reference>/priority")
@role_required(Role.agent)
def priority(reference: str):
    ticket = get_ticket_or_404(reference)
    form = ChoiceForm()
    values = {member.value: member for member in Priority}
    if not form.validate() or form.value.data not in values:
        abort(400, description="unknown priority")
    new_priority = values[form.value.data]
    return _act(ticket, lambda now: ticket_actions.set_priority(
        ticket, new_priority, actor=_me(), now=now
    ), _("Priority set to %(priority)s.", priority=new_priority.value))


@bp.post("/tickets/<reference>/tags")
@role_required(Role.agent)
def tags(reference: str):
    ticket = get_ticket_or_404(reference)
    form = TagsForm()
    if not form.validate():
        abort(400)
    names = ticket_actions.parse_tags(form.tags.data or "")
    return _act(ticket, lambda now: ticket_actions.set_tags(ticket, names, actor=_me(), now=now),
                _("Tags saved."))


@bp.post("/tickets/<reference>/merge")
@role_required(Role.agent)
def merge(reference: str):
    source = get_ticket_or_404(reference)
    target = _other_ticket()
    if target is None:
        flash(_("No ticket with that reference."), "error")
        return redirect(_ticket_url(source))
    try:
        ticket_actions.merge_tickets(source, target, actor=_me(), now=utcnow())
    except ActionError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(_ticket_url(source))
    db.session.commit()
    flash(_("%(source)s was merged into this ticket.", source=source.reference), "success")
    return redirect(_ticket_url(target))


@bp.post("/tickets/<reference>/repeat-of")
@role_required(Role.agent)
def link_repeat(reference: str):
    ticket = get_ticket_or_404(reference)
    earlier = _other_ticket()
    if earlier is None:
        flash(_("No ticket with that reference."), "error")
        return redirect(_ticket_url(ticket))
    return _act(ticket, lambda now: ticket_actions.link_as_repeat(
        ticket, earlier, actor=_me(), now=now
    ), _("Linked as a repeat of %(reference)s.", reference=earlier.reference))


@bp.post("/messages/<int:message_id>/split")
@role_required(Role.agent)
def split(message_id: int):
    message = db.session.get(Message, message_id)
    if message is None:
        abort(404)
    source = message.ticket
    form = SplitForm()
    if not form.validate():
        abort(400)
    try:
        new_ticket = ticket_actions.split_message(
            message, actor=_me(), now=utcnow(), subject=form.subject.data
        )
    except ActionError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(_ticket_url(source))
    db.session.commit()
    flash(_("The message is now ticket %(reference)s.", reference=new_ticket.reference),
          "success")
    return redirect(_ticket_url(new_ticket))


def _act(ticket: Ticket, action: Any, done: str) -> Any:
    """Run one service call, commit, and go back to the ticket (errors shown as a flash)."""
    try:
        action(utcnow())
    except ActionError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(_ticket_url(ticket))
    db.session.commit()
    flash(done, "success")
    return redirect(_ticket_url(ticket))


def _other_ticket() -> Ticket | None:
    form = ReferenceForm()
    if not form.validate():
        return None
    ticket_id = Ticket.id_from_reference(form.reference.data or "")
    return db.session.get(Ticket, ticket_id) if ticket_id else None


def _identity_for(ticket: Ticket, identity_id: int | None) -> CustomerIdentity | None:
    if not identity_id:
        return None
    identity = db.session.get(CustomerIdentity, identity_id)
    if identity is None or identity.customer_id != ticket.customer_id:
        abort(400, description="that address does not belong to this customer")
    return identity


def _status_or_none(value: str | None) -> TicketStatus | None:
    try:
        return TicketStatus(value) if value else None
    except ValueError:
        return None


def _ticket_url(ticket: Ticket) -> str:
    queue_name = request.args.get("queue")
    if queue_name in queues.QUEUES:
        return url_for("agent.ticket", reference=ticket.reference, queue=queue_name)
    return url_for("agent.ticket", reference=ticket.reference)


# --- what the ticket page shows -----------------------------------------------------------------


@dataclass
class TimelineItem:
    """One line of the ticket's history: a message, an event or an SLA milestone."""

    at: datetime
    kind: str  # "message", "event" or "sla"
    message: Message | None = None
    text: str = ""
    actor: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    css: str = ""


@dataclass
class ClockView:
    """An SLA clock as the page shows it."""

    metric: str
    label: str
    cycle: int
    state: str
    due_at: datetime | None
    started_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    elapsed_seconds: int
    target_seconds: int
    paused_seconds: int
    explanation: list[str]

    @property
    def is_ticking(self) -> bool:
        return self.state in ("running", "at_risk", "breached") and self.stopped_at is None


def _ticket_context(
    ticket: Ticket,
    now: datetime,
    *,
    draft: str = "",
    identity: CustomerIdentity | None = None,
    newer: NewerMessagesError | None = None,
    reply_error: str | None = None,
    preview: bool = False,
) -> dict[str, Any]:
    me = _me()
    timezone = current_app.config["DISPLAY_TIMEZONE"]
    messages = ticket_messages(ticket)
    events = list(
        db.session.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .options(selectinload(TicketEvent.actor))
            .order_by(TicketEvent.at, TicketEvent.id)
        )
    )
    clock_rows = list(
        db.session.scalars(
            sa.select(SlaClock)
            .where(SlaClock.ticket_id == ticket.id)
            .order_by(SlaClock.started_at, SlaClock.metric, SlaClock.cycle)
        )
    )
    clock_timezone = _calendar_timezone(ticket) or timezone
    clocks = [_clock_view(row, clock_timezone, now) for row in clock_rows]
    identities = list(ticket.customer.identities)
    default_identity = identity or ticket_actions.default_reply_identity(ticket)
    seen_message_id = ticket_actions.last_customer_message_id(ticket)
    earlier = list(
        db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.customer_id == ticket.customer_id, Ticket.id != ticket.id)
            .order_by(Ticket.opened_at.desc(), Ticket.id.desc())
            .limit(10)
        )
    )
    repeat_chain = _repeat_chain(ticket)
    queue_name = request.args.get("queue")
    previous_id = next_id = None
    if queue_name in queues.QUEUES:
        previous_id, next_id = queues.neighbours(queue_name, me, ticket, now=now)
    sms_info = None
    if default_identity is not None and default_identity.kind == "phone":
        sms_info = sms_draft_info(draft)
    return {
        "ticket": ticket,
        "now": now,
        "timeline": _timeline(messages, events, clock_rows),
        "messages": messages,
        "clocks": clocks,
        "identities": identities,
        "default_identity": default_identity,
        "earlier_tickets": earlier,
        "repeat_chain": repeat_chain,
        "repeat_ordinal": _repeat_ordinal(ticket, repeat_chain),
        "prior_references": _prior_references(events),
        "viewers": ticket_actions.other_viewers(ticket, actor=me, now=now),
        "canned": canned.canned_for_ticket(
            ticket, me, default_language=current_app.config["BABEL_DEFAULT_LOCALE"]
        ),
        "agents": db.session.execute(
            sa.select(User.id, User.name).where(User.is_active_account.is_(True))
            .order_by(User.name)
        ).all(),
        "teams": list(db.session.scalars(sa.select(Team).order_by(Team.name))),
        "statuses": list(TicketStatus),
        "reply_statuses": ticket_actions.REPLY_STATUSES,
        "priorities": list(Priority),
        "draft": draft,
        "newer": newer,
        "reply_error": reply_error,
        "preview": preview,
        "sms_info": sms_info,
        "seen_message_id": seen_message_id,
        "customer_message_count": sum(
            1 for m in messages if m.direction == Direction.inbound and not m.is_automatic
        ),
        "version": _version(ticket),
        "queue_name": queue_name if queue_name in queues.QUEUES else None,
        "previous_id": previous_id,
        "next_id": next_id,
        "highlight": highlight_cues,
        "link_refs": link_refs,
        "ordinal": ordinal,
        "channel_name": _channel_name,
        "status_label": _status_label,
    }


def _calendar_timezone(ticket: Ticket) -> str | None:
    """The timezone of the business calendar the ticket's clocks run on (explanations use it)."""
    snapshot = getattr(ticket, "sla_policy_snapshot", None)
    calendar = snapshot.get("calendar") if isinstance(snapshot, dict) else None
    if calendar is None and ticket.policy is not None:
        calendar = ticket.policy.calendar
    return calendar.get("timezone") if isinstance(calendar, dict) else None


def _version(ticket: Ticket) -> str:
    """Changes whenever anything on the ticket changes (every event touches updated_at)."""
    latest_event = db.session.scalar(
        sa.select(sa.func.max(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id)
    )
    return f"{ticket.updated_at.timestamp():.6f}-{latest_event or 0}"


def _timeline(
    messages: list[Message], events: list[TicketEvent], clocks: list[SlaClock]
) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for message in messages:
        items.append(TimelineItem(at=message.created_at, kind="message", message=message))
    for event in events:
        if event.type in _MESSAGE_EVENTS or event.type in _CLOCK_EVENTS:
            continue
        text, links = describe_event(event)
        items.append(TimelineItem(
            at=event.at, kind="event", text=text, links=links,
            actor=event.actor.name if event.actor else None,
            css="event-" + event.type.replace(".", "-"),
        ))
    for clock in clocks:
        items.extend(_clock_milestones(clock))
    order = {"message": 0, "event": 1, "sla": 2}
    items.sort(key=lambda item: (item.at, order[item.kind]))
    return items


def _clock_milestones(clock: SlaClock) -> list[TimelineItem]:
    label = _(_METRIC_LABELS.get(clock.metric, clock.metric))
    if clock.metric == "next_response":
        label = f"{label} #{clock.cycle}"
    items = [TimelineItem(at=clock.started_at, kind="sla", text=_("%(clock)s clock started",
                                                                    clock=label))]
    for segment in clock.segments or []:
        if not isinstance(segment, dict):
            continue
        at = _instant(segment.get("at"))
        kind = segment.get("kind")
        if at is None or kind not in ("pause", "resume", "retarget"):
            continue
        detail = str(segment.get("detail") or "")
        words = {
            "pause": _("%(clock)s clock paused (%(detail)s)", clock=label, detail=detail),
            "resume": _("%(clock)s clock resumed", clock=label),
            "retarget": _("%(clock)s clock re-targeted (%(detail)s)", clock=label, detail=detail),
        }[kind]
        items.append(TimelineItem(at=at, kind="sla", text=words))
    if clock.breached_at is not None:
        items.append(TimelineItem(at=clock.breached_at, kind="sla", css="sla-breached",
                                  text=_("%(clock)s target breached", clock=label)))
    if clock.stopped_at is not None:
        met = clock.breached_at is None
        items.append(TimelineItem(
            at=clock.stopped_at, kind="sla", css="sla-met" if met else "sla-late",
            text=_("%(clock)s clock stopped: target met", clock=label) if met
            else _("%(clock)s clock stopped after its deadline", clock=label),
        ))
    return items


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clock_view(row: SlaClock, timezone: str, now: datetime) -> ClockView:
    state = row.state
    if row.is_running and row.stopped_at is None and row.due_at is not None:
        # Stored states are as of the last refresh; a running clock's instants say it now.
        if row.due_at <= now:
            state = "breached"
        elif row.warn_at is not None and row.warn_at <= now and state == "running":
            state = "at_risk"
    return ClockView(
        metric=row.metric,
        label=_(_METRIC_LABELS.get(row.metric, row.metric)),
        cycle=row.cycle,
        state=state,
        due_at=row.due_at,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        breached_at=row.breached_at,
        elapsed_seconds=row.elapsed_seconds,
        target_seconds=row.target_seconds,
        paused_seconds=row.paused_seconds,
        explanation=explain_clock(row, timezone),
    )


def explain_clock(row: SlaClock, timezone: str) -> list[str]:
    """The clock in sentences, from the SLA domain's own explanation of its segments."""
    try:
        from ticketing.domain.sla import Clock, ClockSegment, ClockState, Metric, describe_clock
    except ImportError:  # the explanation is optional; the page works without it
        describe_clock = None  # type: ignore[assignment]
    if describe_clock is not None:
        try:
            segments = []
            for segment in row.segments or []:
                at = _instant(segment.get("at")) if isinstance(segment, dict) else None
                if at is None or not segment.get("kind"):
                    continue
                segments.append(ClockSegment(kind=str(segment["kind"]), at=at,
                                             detail=segment.get("detail")))
            clock = Clock(
                metric=Metric(row.metric), cycle=row.cycle, state=ClockState(row.state),
                started_at=row.started_at, due_at=row.due_at, stopped_at=row.stopped_at,
                breached_at=row.breached_at, elapsed_seconds=row.elapsed_seconds,
                paused_seconds=row.paused_seconds, target_seconds=row.target_seconds,
                segments=tuple(segments), priority=row.priority,
            )
            return describe_clock(clock, timezone)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    sentences = [f"started {row.started_at:%Y-%m-%d %H:%M} UTC"]
    if row.stopped_at is not None:
        sentences.append(f"stopped {row.stopped_at:%Y-%m-%d %H:%M} UTC")
    if row.breached_at is not None:
        sentences.append(f"breached {row.breached_at:%Y-%m-%d %H:%M} UTC")
    return sentences


def highlight_cues(text: str | None, cues: list[dict[str, Any]] | None) -> Markup:
    """Escape a customer's text and wrap each again-cue span in <mark class="cue">.

    Spans come from the detector and index into this exact text; overlapping or out-of-range
    spans are skipped, never trusted.
    """
    text = text or ""
    pieces: list[str] = []
    position = 0
    spans = []
    for cue in cues or []:
        try:
            start, end = int(cue["start"]), int(cue["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= start < end <= len(text):
            spans.append((start, end, str(cue.get("kind") or "")))
    for start, end, kind in sorted(spans):
        if start < position:
            continue
        pieces.append(str(escape(text[position:start])))
        title = f' title="{escape(kind)}"' if kind else ""
        pieces.append(f'<mark class="cue"{title}>{escape(text[start:end])}</mark>')
        position = end
    pieces.append(str(escape(text[position:])))
    return Markup("".join(pieces))


def link_refs(text: str) -> Markup:
    """Escape a line of text and turn every ticket reference in it into a link."""
    pieces: list[str] = []
    position = 0
    for match in re.finditer(r"\bT-\d{1,12}\b", text or ""):
        pieces.append(str(escape(text[position:match.start()])))
        reference = match.group(0)
        url = url_for("agent.ticket", reference=reference)
        pieces.append(f'<a href="{escape(url)}">{escape(reference)}</a>')
        position = match.end()
    pieces.append(str(escape((text or "")[position:])))
    return Markup("".join(pieces))


def _repeat_chain(ticket: Ticket, limit: int = 10) -> list[Ticket]:
    """The earlier tickets this one repeats, nearest first (bounded, loops cut)."""
    chain: list[Ticket] = []
    seen = {ticket.id}
    cursor = ticket.repeat_of
    while cursor is not None and cursor.id not in seen and len(chain) < limit:
        chain.append(cursor)
        seen.add(cursor.id)
        cursor = cursor.repeat_of
    return chain


def _repeat_ordinal(ticket: Ticket, chain: list[Ticket]) -> int | None:
    """Which contact about this problem the latest one is; None when it is not a repeat."""
    if not ticket.repeat_contacts and not chain:
        return None
    total = max(ticket.contact_count, 1) + sum(max(earlier.contact_count, 1) for earlier in chain)
    return max(total, 2)


def _prior_references(events: list[TicketEvent]) -> list[str]:
    found: list[str] = []
    for event in events:
        if event.type in ("repeat.detected", "repeat.linked", "ticket.created"):
            for key in ("prior", "repeat_of"):
                value = (event.data or {}).get(key)
                if isinstance(value, str) and _REFERENCE_RE.match(value) and value not in found:
                    found.append(value)
    return found


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st ... (the back office's English)."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def describe_event(event: TicketEvent) -> tuple[str, list[tuple[str, str]]]:
    """An event in words plus links to the tickets it names."""
    data = event.data or {}
    links = [
        (value, url_for("agent.ticket", reference=value))
        for key in ("prior", "into", "merged_from", "to", "split_from", "later", "repeat_of")
        if isinstance(value := data.get(key), str) and _REFERENCE_RE.match(value)
    ]
    kind = event.type
    if kind == "ticket.created":
        text = _("Ticket opened by %(channel)s", channel=_channel_name(data.get("channel", "")))
        if data.get("split_from"):
            text = _("Ticket split off %(ticket)s", ticket=data["split_from"])
    elif kind == "status.changed":
        text = _("Status %(old)s → %(new)s", old=_status_label(data.get("old")),
                 new=_status_label(data.get("new")))
        if data.get("reason"):
            text += f" ({data['reason']})"
    elif kind == "priority.changed":
        text = _("Priority %(old)s → %(new)s", old=data.get("old"), new=data.get("new"))
    elif kind == "assignment.changed":
        text = _("Assigned to %(who)s", who=data.get("assignee") or _("nobody"))
        if data.get("team") != data.get("old_team"):
            text += " · " + _("team %(team)s", team=data.get("team") or _("none"))
    elif kind == "tags.changed":
        parts = []
        if data.get("added"):
            parts.append(_("added %(tags)s", tags=", ".join(data["added"])))
        if data.get("removed"):
            parts.append(_("removed %(tags)s", tags=", ".join(data["removed"])))
        text = _("Tags: %(changes)s", changes="; ".join(parts))
    elif kind == "ticket.merged":
        if data.get("into"):
            text = _("Merged into %(ticket)s", ticket=data["into"])
        else:
            text = ngettext("%(ticket)s merged into this ticket (%(num)s message)",
                            "%(ticket)s merged into this ticket (%(num)s messages)",
                            int(data.get("moved_messages") or 0),
                            ticket=data.get("merged_from"))
    elif kind == "ticket.reopened":
        text = _("Reopened")
    elif kind == "escalation.fired":
        text = _("Escalation “%(rule)s” fired: %(reason)s", rule=data.get("rule"),
                 reason=data.get("reason") or "")
        if data.get("actions"):
            text += " → " + "; ".join(str(action) for action in data["actions"])
    elif kind == "repeat.detected":
        text = _("Repeat contact detected: %(reason)s", reason=data.get("reason") or "")
    elif kind == "repeat.linked":
        text = _("Linked as a repeat of %(ticket)s", ticket=data.get("prior"))
    elif kind == "repeat.referenced":
        text = _("%(ticket)s was linked as a repeat of this ticket", ticket=data.get("later"))
    elif kind == "message.split":
        text = _("A message was split off into %(ticket)s", ticket=data.get("to"))
    elif kind == "optout.changed":
        text = (_("%(address)s opted out of texts", address=data.get("address"))
                if data.get("opted_out") else
                _("%(address)s opted in to texts again", address=data.get("address")))
    elif kind == "delivery.failed":
        text = _("Delivery failed (bounce)")
    elif kind == "customer.linked":
        text = str(data.get("note") or _("Customer addresses linked"))
    else:
        details = ", ".join(
            f"{key}: {value}" for key, value in data.items()
            if isinstance(value, str | int | float | bool)
        )
        text = kind.replace(".", " ").replace("_", " ").capitalize()
        if details:
            text += f" ({details})"
    return text, links


def _channel_name(channel: str) -> str:
    return {"email": _("e-mail"), "sms": _("SMS"), "web": _("web form")}.get(channel, channel)


def _status_label(status: str | TicketStatus | None) -> str:
    value = status.value if isinstance(status, TicketStatus) else (status or "")
    return {
        "new": _("new"),
        "open": _("open"),
        "pending": _("pending"),
        "on_hold": _("on hold"),
        "solved": _("solved"),
        "closed": _("closed"),
    }.get(value, value)
