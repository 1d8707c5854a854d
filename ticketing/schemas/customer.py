"""Customers and their identities (e-mail addresses and phone numbers)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from ticketing.schemas.common import TagDumpSchema, UTCDateTime


class IdentityDumpSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["email", "phone"]))
    address = fields.String(
        required=True, metadata={"description": "E-mail lower-cased, phone in E.164."}
    )
    display_name = fields.String(allow_none=True)
    opted_out_at = UTCDateTime(
        allow_none=True, metadata={"description": "When the number texted STOP, if it did."}
    )
    created_at = UTCDateTime(required=True)
    last_seen_at = UTCDateTime(allow_none=True)


class CustomerDumpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    display_name = fields.String(required=True)
    language = fields.String(allow_none=True)
    created_at = UTCDateTime(required=True)
    tags = fields.Pluck(TagDumpSchema, "name", many=True, required=True)
    identities = fields.List(fields.Nested(IdentityDumpSchema), required=True)


class CustomerLookupArgsLoadSchema(Schema):
    """Find customers by an exact address."""

    email = fields.String(
        validate=validate.Length(min=3, max=320),
        metadata={"description": "Exact e-mail address (case does not matter)."},
    )
    phone = fields.String(
        validate=validate.Length(min=3, max=40),
        metadata={"description": "Phone number; read in the default region without +."},
    )

    @validates_schema
    def require_an_address(self, data: dict, **_kwargs: object) -> None:
        if not data.get("email") and not data.get("phone"):
            raise ValidationError("Give email or phone.", field_name="_schema")


class CustomerListDumpSchema(Schema):
    items = fields.List(fields.Nested(CustomerDumpSchema), required=True)


class IdentityListDumpSchema(Schema):
    items = fields.List(fields.Nested(IdentityDumpSchema), required=True)
