"""SLA clocks of a ticket and SLA policies, as the API shows them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ticketing.schemas.common import UTCDateTime

METRICS = ("first_response", "next_response", "resolution")
CLOCK_STATES = ("running", "at_risk", "paused", "met", "breached")


class ClockDumpSchema(Schema):
    id = fields.Integer(required=True)
    metric = fields.String(required=True, validate=validate.OneOf(METRICS))
    cycle = fields.Integer(required=True, metadata={"description": "Numbered from 1."})
    state = fields.String(required=True, validate=validate.OneOf(CLOCK_STATES))
    priority = fields.String(required=True)
    started_at = UTCDateTime(required=True)
    due_at = UTCDateTime(allow_none=True, metadata={"description": "None while paused."})
    warn_at = UTCDateTime(allow_none=True)
    stopped_at = UTCDateTime(allow_none=True)
    breached_at = UTCDateTime(allow_none=True)
    elapsed_seconds = fields.Integer(required=True, metadata={"description": "Business time."})
    paused_seconds = fields.Integer(required=True)
    target_seconds = fields.Integer(required=True)
    is_running = fields.Boolean(required=True)
    segments = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Start, pause, resume, retarget and stop steps with reasons."},
    )


class SlaPolicyDumpSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "Evaluation order."})
    is_active = fields.Boolean(required=True)
    conditions = fields.Dict(
        required=True,
        metadata={"description": "channel, priority, customer_tag, team_id lists; empty: any."},
    )
    calendar = fields.Dict(
        required=True, metadata={"description": "Timezone, opening hours, holidays or 24/7."}
    )
    targets = fields.Dict(
        required=True, metadata={"description": "priority -> metric -> minutes."}
    )
    pause_statuses = fields.List(fields.String(), required=True)
    warn_ratio = fields.Float(required=True)
    created_at = UTCDateTime(required=True)
    updated_at = UTCDateTime(required=True)


class SlaPolicyListDumpSchema(Schema):
    items = fields.List(fields.Nested(SlaPolicyDumpSchema), required=True)
