"""Short references to staff and teams, embedded in tickets and messages."""

from __future__ import annotations

from marshmallow import Schema, fields


class UserRefDumpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)


class TeamRefDumpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
