"""Fields and envelopes shared by every API schema: UTC instants, problems, pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

#: the one text form of an instant in the API and in webhook payloads
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_utc(value: datetime | None) -> str | None:
    """Render an instant as ISO 8601 UTC with whole seconds, e.g. "2026-01-05T12:00:00Z"."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime(UTC_FORMAT)


class UTCDateTime(fields.DateTime):
    """An instant: dumped as "2026-01-05T12:00:00Z"; loaded from ISO 8601 with an offset or Z.

    A value without an offset is refused rather than guessed: a client's local time read as UTC
    would shift every filter by hours without anyone noticing.
    """

    default_error_messages = {
        "naive": "Give the instant with a UTC offset or Z, e.g. 2026-01-05T12:00:00Z.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        return format_utc(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise self.make_error("naive")
        return result.astimezone(UTC)


def not_blank(value: str) -> None:
    """Refuse text that is only whitespace."""
    if not value.strip():
        raise ValidationError("May not be blank.")


class SafeString(fields.String):
    """Text from a client: no NUL characters or lone surrogates, which no database stores."""

    default_error_messages = {"unsafe": "Text may not contain NUL or unpaired surrogates."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("unsafe")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("unsafe") from None
        return text


class SafeEmail(SafeString, fields.Email):
    """An e-mail address from a client, with the same text safety."""


class TagDumpSchema(Schema):
    name = fields.String(required=True)


class ProblemDumpSchema(Schema):
    """RFC 9457 problem details, as every API error is answered."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Content"})
    status = fields.Integer(required=True, metadata={"example": 422})
    detail = fields.String(metadata={"example": "The request body has errors."})
    #: field name -> messages (nested for nested objects); only on 422
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Field errors by field name (validation errors only)."},
    )


class PageArgsLoadSchema(Schema):
    """The query parameters of every cursor-paginated list."""

    cursor = fields.String(
        load_default=None,
        metadata={"description": "Opaque cursor from the previous page's `next_cursor`."},
    )
    limit = fields.Integer(
        load_default=25,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page, 1 to 100."},
    )
