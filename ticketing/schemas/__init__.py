"""marshmallow load and dump schemas for the API and webhook payloads (the edges only)."""

from ticketing.schemas.common import (
    PageArgsLoadSchema,
    ProblemDumpSchema,
    TagDumpSchema,
    UTCDateTime,
    format_utc,
)
from ticketing.schemas.customer import (
    CustomerDumpSchema,
    CustomerListDumpSchema,
    CustomerLookupArgsLoadSchema,
    IdentityDumpSchema,
    IdentityListDumpSchema,
)
from ticketing.schemas.event import EventDumpSchema, EventListArgsLoadSchema, EventPageDumpSchema
from ticketing.schemas.message import (
    AttachmentDumpSchema,
    MessageDumpSchema,
    NoteLoadSchema,
    ReplyLoadSchema,
)
from ticketing.schemas.sla import ClockDumpSchema, SlaPolicyDumpSchema, SlaPolicyListDumpSchema
from ticketing.schemas.ticket import (
    SUMMARY_FIELDS,
    CustomerTicketArgsLoadSchema,
    TicketCreatedDumpSchema,
    TicketDumpSchema,
    TicketListArgsLoadSchema,
    TicketLoadSchema,
    TicketPageDumpSchema,
    TicketPatchLoadSchema,
)
from ticketing.schemas.user import TeamRefDumpSchema, UserRefDumpSchema
from ticketing.schemas.webhook import PING_EVENT, WEBHOOK_EVENTS, WebhookEventDumpSchema

__all__ = [
    "PING_EVENT",
    "SUMMARY_FIELDS",
    "WEBHOOK_EVENTS",
    "AttachmentDumpSchema",
    "ClockDumpSchema",
    "CustomerDumpSchema",
    "CustomerListDumpSchema",
    "CustomerLookupArgsLoadSchema",
    "CustomerTicketArgsLoadSchema",
    "EventDumpSchema",
    "EventListArgsLoadSchema",
    "EventPageDumpSchema",
    "IdentityDumpSchema",
    "IdentityListDumpSchema",
    "MessageDumpSchema",
    "NoteLoadSchema",
    "PageArgsLoadSchema",
    "ProblemDumpSchema",
    "ReplyLoadSchema",
    "SlaPolicyDumpSchema",
    "SlaPolicyListDumpSchema",
    "TagDumpSchema",
    "TeamRefDumpSchema",
    "TicketCreatedDumpSchema",
    "TicketDumpSchema",
    "TicketListArgsLoadSchema",
    "TicketLoadSchema",
    "TicketPageDumpSchema",
    "TicketPatchLoadSchema",
    "UTCDateTime",
    "UserRefDumpSchema",
    "WebhookEventDumpSchema",
    "format_utc",
]
