"""Messages on a ticket (inbound, outbound, internal notes) and what clients may post."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ticketing.models import DeliveryState, Direction
from ticketing.schemas.common import SafeString, UTCDateTime, not_blank
from ticketing.schemas.user import UserRefDumpSchema

#: the longest reply or note the API accepts (a long e-mail, not a file)
MAX_TEXT = 50_000


class AgainCueDumpSchema(Schema):
    """An again-cue span ("alweer", "still") in the message's `new_text`."""

    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    match = fields.String(required=True)
    kind = fields.String(required=True)


class AttachmentDumpSchema(Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True, metadata={"description": "Bytes."})
    is_inline = fields.Boolean(required=True)
    error = fields.String(
        allow_none=True, metadata={"description": "Why the content is missing, if it is."}
    )


class MessageDumpSchema(Schema):
    id = fields.Integer(required=True)
    direction = fields.Enum(
        Direction,
        by_value=True,
        required=True,
        metadata={"description": "`in` from the customer, `out` to the customer, `note` internal."},
    )
    channel = fields.String(required=True, metadata={"example": "email"})
    kind = fields.String(
        required=True,
        metadata={"description": "message, acknowledgement, auto_reply, bounce, opt_out, ..."},
    )
    address = fields.Function(
        lambda message: message.identity.address if message.identity is not None else None,
        allow_none=True,
        metadata={
            "type": "string",
            "description": "The customer address it came from or went to.",
        },
    )
    author = fields.Nested(
        UserRefDumpSchema, allow_none=True, metadata={"description": "Staff author."}
    )
    subject = fields.String(allow_none=True)
    text = fields.String(required=True)
    new_text = fields.String(
        required=True,
        metadata={"description": "The customer's own new words, quotes and signature removed."},
    )
    html = fields.String(allow_none=True, metadata={"description": "Sanitised HTML, if any."})
    language = fields.String(allow_none=True)
    again_cues = fields.List(fields.Nested(AgainCueDumpSchema), required=True)
    is_automatic = fields.Boolean(required=True)
    created_at = UTCDateTime(required=True)
    delivery_state = fields.Enum(DeliveryState, by_value=True, allow_none=True)
    delivery_error = fields.String(allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentDumpSchema), required=True)


class ReplyLoadSchema(Schema):
    """A public reply, sent to the address the customer last wrote from (mail or text)."""

    text = SafeString(required=True, validate=[validate.Length(min=1, max=MAX_TEXT), not_blank])
    status = fields.String(
        validate=validate.OneOf(["open", "pending", "on_hold", "solved"]),
        metadata={"description": "Status to set together with the reply (e.g. pending)."},
    )


class NoteLoadSchema(Schema):
    """An internal note: never sent to the customer, does not stop any SLA clock."""

    text = SafeString(required=True, validate=[validate.Length(min=1, max=MAX_TEXT), not_blank])
