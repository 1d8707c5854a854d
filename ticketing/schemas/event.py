"""The ticket event log as a feed: every change, in the order it was recorded."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ticketing.schemas.common import SafeString, UTCDateTime


class EventDumpSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "Increases with every event."})
    ticket_id = fields.Integer(required=True)
    ticket = fields.Function(
        lambda event: f"T-{event.ticket_id}",
        required=True,
        metadata={"type": "string", "description": "The ticket's reference."},
    )
    type = fields.String(
        required=True,
        metadata={"description": "Dotted name: message.received, reply.sent, status.changed, "
                  "sla.breached, ...", "example": "status.changed"},
    )
    at = UTCDateTime(required=True)
    actor_id = fields.Integer(allow_none=True, metadata={"description": "Staff user, if any."})
    message_id = fields.Integer(allow_none=True)
    data = fields.Dict(
        required=True, metadata={"description": "Details: old and new values, reasons."}
    )


class EventPageDumpSchema(Schema):
    items = fields.List(fields.Nested(EventDumpSchema), required=True)
    next_cursor = fields.String(
        required=True,
        metadata={"description": "Pass as `cursor` next time; returned even when the page is "
                  "empty, so a client can poll with it."},
    )
    has_more = fields.Boolean(required=True, metadata={"description": "Ask again at once."})


class EventListArgsLoadSchema(Schema):
    cursor = fields.String(
        load_default=None,
        metadata={"description": "From the previous answer's `next_cursor`; omit to start at "
                  "the oldest event."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    ticket = SafeString(
        validate=validate.Regexp(r"^(T-)?[0-9]{1,9}$"),
        metadata={"description": "Only this ticket's events (reference or id)."},
    )
    type = fields.List(
        SafeString(validate=validate.Length(min=1, max=64)),
        metadata={"description": "Only these event types (exact names)."},
    )
