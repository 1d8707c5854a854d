"""/api/v1/tickets: list, open on behalf of a customer, read, update, reply and note."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import Response, current_app, g, request, url_for

from channels.phone import normalise_phone
from ticketing.clock import utcnow
from ticketing.domain.contact import Channel, Contact, InboundRequest, InvalidInbound
from ticketing.extensions import db
from ticketing.jobs import kick_outbox
from ticketing.models import InboundRecord, Role, TicketStatus
from ticketing.pipeline import ingest_raw
from ticketing.schemas import (
    SUMMARY_FIELDS,
    MessageDumpSchema,
    NoteLoadSchema,
    ReplyLoadSchema,
    TicketCreatedDumpSchema,
    TicketDumpSchema,
    TicketListArgsLoadSchema,
    TicketLoadSchema,
    TicketPageDumpSchema,
    TicketPatchLoadSchema,
)
from ticketing.services import api_tickets, ticket_actions
from ticketing.services.intake import IntakeSettings
from ticketing.web.api import bp
from ticketing.web.api.common import (
    current_api_user,
    get_ticket,
    load_args,
    load_body,
    requires_role,
    respond,
)
from ticketing.web.api.errors import ApiProblem, invalid
from ticketing.web.api.pagination import decode_cursor, encode_cursor

#: the inbound channel name API submissions are stored under (raw record, quarantine)
API_CHANNEL = "api"
#: the API's own submission format, recorded with each raw record so it can be replayed
SUBMISSION_FORMAT = "ticketing.api.ticket/1"


def filters_from_args(args: dict[str, Any]) -> api_tickets.TicketFilters:
    assignee = args.get("assignee")
    return api_tickets.TicketFilters(
        statuses=tuple(args.get("status") or ()),
        priorities=tuple(args.get("priority") or ()),
        channels=tuple(args.get("channel") or ()),
        team_id=args.get("team"),
        assignee_id=(
            current_api_user().id
            if assignee == "me"
            else int(assignee)
            if assignee and assignee != "none"
            else None
        ),
        unassigned=assignee == "none",
        customer_id=args.get("customer"),
        tag=args.get("tag"),
        updated_since=args.get("updated_since"),
    )


def ticket_page(filters: api_tickets.TicketFilters, args: dict[str, Any]) -> Response:
    """Answer one page of a ticket list (shared with /customers/{id}/tickets)."""
    sort = args["sort"]
    after = None
    if args.get("cursor"):
        cursor_sort, value, ticket_id = decode_cursor(args["cursor"], 3)
        try:
            after = (datetime.fromisoformat(value), int(ticket_id))
        except (TypeError, ValueError):
            after = None
        if cursor_sort != sort or after is None or after[0].tzinfo is None:
            raise invalid({"cursor": ["Not a cursor from this list; start without one."]})
    tickets, has_more = api_tickets.search_tickets(
        filters, sort=sort, after=after, limit=args["limit"]
    )
    next_cursor = None
    if has_more and tickets:
        last = tickets[-1]
        next_cursor = encode_cursor(
            sort, api_tickets.sort_value(last, sort).isoformat(), last.id
        )
    return respond(TicketPageDumpSchema(), {"items": tickets, "next_cursor": next_cursor})


@bp.get("/tickets")
@requires_role(Role.agent)
def list_tickets() -> Response:
    """List tickets, filtered, newest change first (cursor pages)."""
    args = load_args(TicketListArgsLoadSchema())
    return ticket_page(filters_from_args(args), args)


@bp.get("/tickets/<reference>")
@requires_role(Role.agent)
def get_ticket_detail(reference: str) -> Response:
    """A ticket with its messages (internal notes included), SLA clocks and repeat facts."""
    ticket = get_ticket(reference)
    return respond(TicketDumpSchema(), api_tickets.ticket_detail(ticket))


@bp.post("/tickets")
@requires_role(Role.agent)
def create_ticket() -> Response:
    """Open a ticket for a customer, through intake like every other inbound contact."""
    data = load_body(TicketLoadSchema())
    _normalise_customer(data["customer"])
    try:
        api_tickets.check_references(
            assignee_id=data.get("assignee_id"), team_id=data.get("team_id")
        )
    except api_tickets.FieldError as error:
        raise invalid({error.field_name: [error.message]}) from None
    user = current_api_user()
    now = utcnow()
    settings = replace(
        IntakeSettings.from_config(current_app.config), acknowledge_web=data["acknowledge"]
    )
    document = {
        "format": SUBMISSION_FORMAT,
        "user_id": user.id,
        # what the client sent, byte for byte (as text), and what validation made of it
        "body": request.get_data(as_text=True),
        "request": data_for_record(data),
    }
    outcome = ingest_raw(
        API_CHANNEL,
        json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        parse_api_record,
        now=now,
        settings=settings,
        source=f"api:{user.email} token {g.api_token_prefix}…",
        envelope={"user_id": user.id, "token_prefix": g.api_token_prefix},
    )
    if outcome.outcome == "quarantined" or not outcome.results:
        raise ApiProblem(
            422,
            f"The complaint was stored as inbound record {outcome.record_id} but could not be "
            f"taken in: {outcome.reason}. An administrator can see it in the quarantine.",
        )
    result = outcome.results[0]
    ticket = result.ticket
    if ticket is None:
        raise ApiProblem(422, f"Intake did not open a ticket: {result.reason}")
    if result.outcome == "created":
        try:
            api_tickets.update_ticket(
                ticket,
                actor=user,
                now=now,
                priority=data.get("priority"),
                **{
                    key: data[key]
                    for key in ("assignee_id", "team_id", "tags")
                    if data.get(key) is not None
                },
            )
        except (api_tickets.FieldError, ticket_actions.ActionError) as error:
            # The ticket exists (intake committed it); report what could not be applied.
            db.session.rollback()
            raise ApiProblem(
                422, f"{ticket.reference} was opened, but not all fields were applied: {error}"
            ) from None
        db.session.commit()
    kick_outbox()
    body = {
        "outcome": result.outcome,
        "reason": result.reason,
        "tracking_url": _tracking_url(result.tracking_token),
        "ticket": api_tickets.ticket_detail(ticket),
    }
    status = 201 if result.outcome == "created" else 200
    location = url_for("api.get_ticket_detail", reference=ticket.reference)
    return respond(TicketCreatedDumpSchema(), body, status, headers={"Location": location})


def _normalise_customer(customer: dict[str, Any]) -> None:
    """Put the phone number in E.164 now, so a typo is a 422 and not a quarantined record."""
    if customer.get("phone"):
        try:
            customer["phone"] = normalise_phone(
                customer["phone"], current_app.config.get("DEFAULT_PHONE_REGION", "NL")
            )
        except ValueError:
            raise invalid({"customer": {"phone": ["Not a valid phone number."]}}) from None
    if customer.get("email"):
        customer["email"] = customer["email"].strip().lower()


def data_for_record(data: dict[str, Any]) -> dict[str, Any]:
    """The validated request as plain JSON, kept in the raw record."""
    plain = dict(data)
    if plain.get("priority") is not None:
        plain["priority"] = plain["priority"].value
    return plain


def parse_api_record(record: InboundRecord) -> list[Contact]:
    """Turn a stored API submission into a contact, as the web form's adapter reads forms.

    An API ticket is a complaint that reached the organisation some other way (a shop's own
    form, a phone call), so it enters like a web-form submission: channel "web", replies by
    e-mail or text to the address given. The external id is scoped to the API user, so two
    integrations can use the same ids without meeting.
    """
    try:
        document = json.loads(record.payload.decode("utf-8"))
        submitted = document["request"]
        user_id = int(document["user_id"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise InvalidInbound(f"not an API submission: {error}") from None
    if document.get("format") != SUBMISSION_FORMAT or not isinstance(submitted, dict):
        raise InvalidInbound("not an API submission: unknown format")
    customer = submitted.get("customer") or {}
    key = submitted.get("external_id") or f"record-{record.id}"
    form = {
        "submission_id": f"api:u{user_id}:{key}",
        "name": customer.get("name") or "",
        "email": customer.get("email") or "",
        "phone": customer.get("phone") or "",
        "message": submitted.get("text") or "",
        "subject": submitted.get("subject") or "",
        "category": submitted.get("category") or "",
        "order_number": submitted.get("order_number") or "",
        "language": submitted.get("language") or "",
    }
    adapter = current_app.extensions["channels"].get(Channel.web)
    return adapter.parse_inbound(
        InboundRequest(
            channel=Channel.web,
            body=record.payload,
            form=form,
            received_at=record.received_at,
            source=record.source,
        )
    )


def _tracking_url(token: str | None) -> str | None:
    if not token:
        return None
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return f"{base.rstrip('/')}/track/{token}"
    return url_for("public.track", token=token, _external=True)


@bp.patch("/tickets/<reference>")
@requires_role(Role.agent)
def update_ticket(reference: str) -> Response:
    """Change status, priority, assignee, team or tags; each change is an event."""
    ticket = get_ticket(reference)
    data = load_body(TicketPatchLoadSchema())
    try:
        api_tickets.update_ticket(ticket, actor=current_api_user(), now=utcnow(), **data)
    except api_tickets.FieldError as error:
        db.session.rollback()
        raise invalid({error.field_name: [error.message]}) from None
    except ticket_actions.ActionError as error:
        db.session.rollback()
        raise ApiProblem(409, str(error)) from None
    db.session.commit()
    return respond(TicketDumpSchema(only=SUMMARY_FIELDS), ticket)


@bp.post("/tickets/<reference>/replies")
@requires_role(Role.agent)
def reply(reference: str) -> Response:
    """Answer the customer on the address they last wrote from (queued, sent after commit)."""
    ticket = get_ticket(reference)
    data = load_body(ReplyLoadSchema())
    try:
        message = ticket_actions.reply(
            ticket,
            data["text"],
            actor=current_api_user(),
            now=utcnow(),
            settings=ticket_actions.OutboundSettings.from_config(current_app.config),
            status_after=TicketStatus(data["status"]) if data.get("status") else None,
        )
    except ticket_actions.ActionError as error:
        db.session.rollback()
        raise ApiProblem(409, str(error)) from None
    db.session.commit()
    kick_outbox()
    return respond(MessageDumpSchema(), message, 201)


@bp.post("/tickets/<reference>/notes")
@requires_role(Role.agent)
def add_note(reference: str) -> Response:
    """Add an internal note (never sent, no SLA effect)."""
    ticket = get_ticket(reference)
    data = load_body(NoteLoadSchema())
    try:
        note = ticket_actions.add_note(
            ticket, data["text"], actor=current_api_user(), now=utcnow()
        )
    except ticket_actions.ActionError as error:
        db.session.rollback()
        raise ApiProblem(409, str(error)) from None
    db.session.commit()
    return respond(MessageDumpSchema(), note, 201)
