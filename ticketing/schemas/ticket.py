"""Tickets: the dump (summary and detail views), creation, updates and list filters."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ticketing.models import Priority, TicketStatus
from ticketing.schemas.common import (
    PageArgsLoadSchema,
    SafeEmail,
    SafeString,
    TagDumpSchema,
    UTCDateTime,
    not_blank,
)
from ticketing.schemas.message import MessageDumpSchema
from ticketing.schemas.sla import ClockDumpSchema
from ticketing.schemas.user import TeamRefDumpSchema, UserRefDumpSchema

#: database ids are 32-bit on PostgreSQL; a larger number can only be a mistake
MAX_ID = 2**31 - 1
#: a tag: letters, digits and - _ . : (stored lower-case)
TAG_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
#: fields of the summary view (lists, webhook payloads); the detail view adds the rest
SUMMARY_FIELDS = (
    "id",
    "reference",
    "subject",
    "status",
    "priority",
    "channel",
    "language",
    "customer",
    "team",
    "assignee",
    "tags",
    "opened_at",
    "updated_at",
    "last_customer_message_at",
    "last_agent_reply_at",
    "first_responded_at",
    "solved_at",
    "closed_at",
    "sla_state",
    "has_breached",
    "next_due_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "escalation_level",
    "contact_count",
    "repeat_contacts",
    "again_mentions",
    "repeat_of",
    "merged_into",
)


def id_field(*, strict: bool = True, **kwargs: Any) -> fields.Integer:
    """An integer id from a client, bounded to what the database can hold.

    JSON bodies are strict (a number, not "12"); query parameters arrive as text.
    """
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class TicketRefDumpSchema(Schema):
    reference = fields.String(required=True)


class CustomerRefDumpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    display_name = fields.String(required=True)


class RepeatDetectionDumpSchema(Schema):
    """Why a contact was judged to be the customer coming back about the same problem."""

    type = fields.String(
        required=True,
        validate=validate.OneOf(["repeat.detected", "repeat.linked"]),
        metadata={"description": "detected by intake, or linked by an agent."},
    )
    at = UTCDateTime(required=True)
    message_id = fields.Integer(allow_none=True)
    reason = fields.String(attribute="data.reason", allow_none=True)
    prior = fields.String(
        attribute="data.prior",
        allow_none=True,
        metadata={"description": "Reference of the earlier ticket, if any."},
    )
    cues = fields.List(
        fields.String(),
        attribute="data.cues",
        allow_none=True,
        metadata={"description": "Again-cues the customer used."},
    )
    channel = fields.String(attribute="data.channel", allow_none=True)


class TicketDumpSchema(Schema):
    """A ticket; lists and webhooks use the summary view, GET one adds the detail fields.

    Detail: messages, SLA clocks and the repeat-contact evidence.
    """

    id = fields.Integer(required=True)
    reference = fields.String(required=True, metadata={"example": "T-1042"})
    subject = fields.String(required=True)
    status = fields.Enum(TicketStatus, by_value=True, required=True)
    priority = fields.Enum(Priority, by_value=True, required=True)
    channel = fields.String(required=True, metadata={"description": "Channel of first contact."})
    language = fields.String(allow_none=True)
    customer = fields.Nested(CustomerRefDumpSchema, required=True)
    team = fields.Nested(TeamRefDumpSchema, allow_none=True)
    assignee = fields.Nested(UserRefDumpSchema, allow_none=True)
    tags = fields.Pluck(TagDumpSchema, "name", many=True, required=True)
    opened_at = UTCDateTime(required=True)
    updated_at = UTCDateTime(required=True)
    last_customer_message_at = UTCDateTime(allow_none=True)
    last_agent_reply_at = UTCDateTime(allow_none=True)
    first_responded_at = UTCDateTime(allow_none=True)
    solved_at = UTCDateTime(allow_none=True)
    closed_at = UTCDateTime(allow_none=True)
    sla_state = fields.String(
        allow_none=True,
        validate=validate.OneOf(["running", "at_risk", "breached"]),
        metadata={"description": "Worst state among running clocks; null when none runs."},
    )
    has_breached = fields.Boolean(required=True)
    next_due_at = UTCDateTime(allow_none=True)
    first_response_due_at = UTCDateTime(allow_none=True)
    next_response_due_at = UTCDateTime(allow_none=True)
    resolution_due_at = UTCDateTime(allow_none=True)
    escalation_level = fields.Integer(required=True)
    contact_count = fields.Integer(
        required=True, metadata={"description": "Inbound customer messages."}
    )
    repeat_contacts = fields.Integer(
        required=True,
        metadata={"description": "Contacts judged to be the customer coming back."},
    )
    again_mentions = fields.Integer(
        required=True, metadata={"description": "Inbound messages with an again-cue."}
    )
    repeat_of = fields.Pluck(
        TicketRefDumpSchema,
        "reference",
        allow_none=True,
        metadata={"description": "The earlier ticket this one repeats."},
    )
    merged_into = fields.Pluck(TicketRefDumpSchema, "reference", allow_none=True)
    # Detail view only.
    messages = fields.List(fields.Nested(MessageDumpSchema))
    clocks = fields.List(fields.Nested(ClockDumpSchema))
    repeat_detections = fields.List(fields.Nested(RepeatDetectionDumpSchema))
    repeated_by = fields.List(
        fields.String(), metadata={"description": "References of later tickets repeating this."}
    )


class TicketPageDumpSchema(Schema):
    items = fields.List(fields.Nested(TicketDumpSchema(only=SUMMARY_FIELDS)), required=True)
    next_cursor = fields.String(
        allow_none=True, required=True, metadata={"description": "null on the last page."}
    )


class CustomerRefLoadSchema(Schema):
    """The customer a ticket is opened for: an e-mail address, a phone number or both."""

    name = SafeString(validate=validate.Length(max=200))
    email = SafeEmail(validate=validate.Length(max=320))
    phone = SafeString(
        validate=validate.Length(min=3, max=40),
        metadata={"description": "Read in the default region when it has no + prefix."},
    )

    @validates_schema
    def require_an_address(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data.get("email") and not data.get("phone"):
            raise ValidationError("Give email or phone.", field_name="_schema")


def _tag_list() -> fields.List:
    return fields.List(
        SafeString(validate=validate.Regexp(TAG_PATTERN)),
        validate=validate.Length(max=20),
        metadata={"description": "Tag names: letters, digits, - _ . : (stored lower-case)."},
    )


class TicketLoadSchema(Schema):
    """Open a ticket on behalf of a customer (the complaint reached you another way)."""

    customer = fields.Nested(CustomerRefLoadSchema, required=True)
    text = SafeString(required=True, validate=[validate.Length(min=1, max=20_000), not_blank])
    subject = SafeString(validate=validate.Length(max=200))
    category = SafeString(validate=validate.Length(max=64))
    order_number = SafeString(validate=validate.Length(max=64))
    language = fields.String(validate=validate.OneOf(["nl", "en", "de", "fr"]))
    external_id = SafeString(
        validate=validate.Regexp(r"^[\w.:@-]{1,80}$"),
        metadata={
            "description": "Your own id for the complaint; sending it again is a no-op "
            "(idempotency key, per API user)."
        },
    )
    priority = fields.Enum(Priority, by_value=True)
    team_id = id_field()
    assignee_id = id_field()
    tags = _tag_list()
    acknowledge = fields.Boolean(
        load_default=False,
        metadata={"description": "Send the customer the usual acknowledgement with the "
                  "reference and tracking link."},
    )


class TicketPatchLoadSchema(Schema):
    """Change a ticket's status, priority, assignee, team or tags (tags replace the set)."""

    status = fields.Enum(TicketStatus, by_value=True)
    priority = fields.Enum(Priority, by_value=True)
    assignee_id = id_field(allow_none=True, metadata={"description": "null unassigns."})
    team_id = id_field(allow_none=True)
    tags = _tag_list()

    @validates_schema
    def require_a_change(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("Nothing to change.", field_name="_schema")


class TicketCreatedDumpSchema(Schema):
    """What POST /tickets did: intake may add the complaint to the customer's open ticket."""

    outcome = fields.String(
        required=True,
        validate=validate.OneOf(["created", "appended", "duplicate"]),
        metadata={"description": "created: new ticket; appended: added to an existing ticket "
                  "(thread or repeat contact); duplicate: this external_id was seen before."},
    )
    reason = fields.String(required=True, metadata={"description": "Intake's decision in words."})
    tracking_url = fields.String(
        allow_none=True,
        metadata={"description": "The customer's private tracking link (new tickets only; "
                  "shown once)."},
    )
    ticket = fields.Nested(TicketDumpSchema, required=True)


class CustomerTicketArgsLoadSchema(PageArgsLoadSchema):
    status = fields.List(fields.Enum(TicketStatus, by_value=True))
    sort = fields.String(
        load_default="-updated_at",
        validate=validate.OneOf(["-updated_at", "updated_at", "-opened_at", "opened_at"]),
        metadata={"description": "Sort key; `-` for newest first. Sync with `updated_at` and "
                  "`updated_since`."},
    )


class TicketListArgsLoadSchema(CustomerTicketArgsLoadSchema):
    priority = fields.List(fields.Enum(Priority, by_value=True))
    channel = fields.List(SafeString(validate=validate.Length(max=16)))
    team = id_field(strict=False, metadata={"description": "Team id."})
    assignee = fields.String(
        validate=validate.Regexp(r"^(me|none|[1-9][0-9]{0,8})$"),
        metadata={"description": "A user id, `me` or `none` (unassigned)."},
    )
    customer = id_field(strict=False, metadata={"description": "Customer id."})
    tag = SafeString(validate=validate.Regexp(TAG_PATTERN))
    updated_since = UTCDateTime(metadata={"description": "Changed at or after this instant."})
