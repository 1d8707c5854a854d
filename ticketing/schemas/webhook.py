"""Outbound webhook payloads: what a subscribed endpoint receives, signed."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ticketing.schemas.common import UTCDateTime
from ticketing.schemas.event import EventDumpSchema
from ticketing.schemas.message import MessageDumpSchema
from ticketing.schemas.sla import ClockDumpSchema
from ticketing.schemas.ticket import SUMMARY_FIELDS, TicketDumpSchema

#: the events an endpoint can subscribe to
WEBHOOK_EVENTS = (
    "ticket.created",
    "message.received",
    "ticket.updated",
    "sla.at_risk",
    "sla.breached",
    "ticket.escalated",
)
#: sent on demand from the admin page to test an endpoint; always delivered, never subscribed
PING_EVENT = "ping"


class WebhookDataDumpSchema(Schema):
    ticket = fields.Nested(
        TicketDumpSchema(only=SUMMARY_FIELDS),
        allow_none=True,
        metadata={"description": "The ticket as it was right after the change (null for ping)."},
    )
    changes = fields.List(
        fields.Nested(EventDumpSchema),
        required=True,
        metadata={"description": "The ticket events this webhook announces."},
    )
    message = fields.Nested(
        MessageDumpSchema,
        allow_none=True,
        metadata={"description": "message.received: the customer's message."},
    )
    clocks = fields.List(
        fields.Nested(ClockDumpSchema),
        required=True,
        metadata={"description": "sla.* and ticket.escalated: the ticket's SLA clocks."},
    )


class WebhookEventDumpSchema(Schema):
    """The JSON body POSTed to an endpoint. Verify `X-Complaints-Signature` before use."""

    id = fields.String(
        required=True, metadata={"description": "Delivery id; equals X-Complaints-Delivery."}
    )
    event = fields.String(required=True, validate=validate.OneOf([*WEBHOOK_EVENTS, PING_EVENT]))
    created_at = UTCDateTime(required=True)
    data = fields.Nested(WebhookDataDumpSchema, required=True)
