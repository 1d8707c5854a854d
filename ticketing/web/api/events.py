"""/api/v1/events: every ticket event after a cursor, for clients that keep in sync."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app

from ticketing.clock import utcnow
from ticketing.models import Role, Ticket
from ticketing.schemas import EventListArgsLoadSchema, EventPageDumpSchema
from ticketing.schemas.ticket import MAX_ID
from ticketing.services import api_tickets
from ticketing.web.api import bp
from ticketing.web.api.common import load_args, requires_role, respond
from ticketing.web.api.errors import invalid
from ticketing.web.api.pagination import decode_cursor, encode_cursor

#: how long an event must be old before the feed hands it out (see api_tickets.event_feed)
DEFAULT_SETTLE_SECONDS = 2


@bp.get("/events")
@requires_role(Role.agent)
def list_events() -> Response:
    """Ticket events with ids after the cursor, oldest first; poll with `next_cursor`."""
    args = load_args(EventListArgsLoadSchema())
    after_id = 0
    if args.get("cursor"):
        (after_id,) = decode_cursor(args["cursor"], 1)
        if not isinstance(after_id, int) or not 0 <= after_id <= MAX_ID:
            raise invalid({"cursor": ["Not a cursor from this list; start without one."]})
    ticket_id = None
    if args.get("ticket"):
        ticket_id = Ticket.id_from_reference(args["ticket"])
        if ticket_id is None or ticket_id > MAX_ID:
            raise invalid({"ticket": ["Not a ticket reference."]})
    settle = current_app.config.get("API_EVENTS_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS)
    events, has_more = api_tickets.event_feed(
        after_id=after_id,
        limit=args["limit"],
        settled_before=utcnow() - timedelta(seconds=settle),
        ticket_id=ticket_id,
        types=tuple(args.get("type") or ()),
    )
    last_id = events[-1].id if events else after_id
    return respond(
        EventPageDumpSchema(),
        {"items": events, "next_cursor": encode_cursor(last_id), "has_more": has_more},
    )
