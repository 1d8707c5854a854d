"""The supervisor dashboard figures, as the API gives them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ticketing.models import Priority
from ticketing.schemas.common import SafeString, UTCDateTime
from ticketing.schemas.ticket import id_field

METRIC = fields.String(
    required=True, validate=validate.OneOf(["first_response", "next_response", "resolution"])
)
#: the longest period one request may cover
MAX_PERIOD_DAYS = 366


def _rate(description: str) -> fields.Float:
    return fields.Float(allow_none=True, metadata={"description": description})


class PeriodDumpSchema(Schema):
    start = UTCDateTime(required=True)
    end = UTCDateTime(required=True, metadata={"description": "Exclusive."})
    channel = fields.String(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    priority = fields.String(allow_none=True)
    policy_id = fields.Integer(allow_none=True)


class HitRateDumpSchema(Schema):
    metric = METRIC
    met = fields.Integer(required=True)
    breached = fields.Integer(required=True)
    excused = fields.Integer(required=True)
    rate = _rate("met / (met + breached); null without stopped clocks.")
    adjusted_rate = _rate("Excused breaches left out of the denominator.")


class BreachCountDumpSchema(Schema):
    metric = METRIC
    total = fields.Integer(required=True)
    running = fields.Integer(required=True, metadata={"description": "Still running, overdue."})
    unreviewed = fields.Integer(required=True)
    acknowledged = fields.Integer(required=True)
    annotated = fields.Integer(required=True)
    excused = fields.Integer(required=True)


class ResponseTimeDumpSchema(Schema):
    metric = METRIC
    count = fields.Integer(required=True)
    median = fields.Float(allow_none=True, metadata={"description": "Business seconds."})
    p90 = fields.Float(allow_none=True, metadata={"description": "Business seconds."})


class BacklogBucketDumpSchema(Schema):
    key = fields.String(required=True, metadata={"example": "1_3d"})
    count = fields.Integer(required=True)


class AtRiskDumpSchema(Schema):
    metric = METRIC
    at_risk = fields.Integer(required=True)
    overdue = fields.Integer(required=True)


class RepeatSummaryDumpSchema(Schema):
    tickets = fields.Integer(required=True)
    repeat_tickets = fields.Integer(required=True)
    contacts = fields.Integer(required=True)
    repeat_contacts = fields.Integer(required=True)
    again_mentions = fields.Integer(required=True)
    repeat_rate = _rate("Share of tickets with a repeat contact.")
    repeats_per_100_contacts = _rate("Repeat contacts per 100 contacts.")


class FirstContactDumpSchema(Schema):
    solved = fields.Integer(required=True)
    first_contact = fields.Integer(required=True)
    rate = _rate("Solved after one contact and never reopened.")


class EscalationCountDumpSchema(Schema):
    rule_id = fields.Integer(required=True)
    rule_name = fields.String(required=True)
    firings = fields.Integer(required=True)
    tickets = fields.Integer(required=True)


class TrendBucketDumpSchema(Schema):
    label = fields.String(required=True)
    start = UTCDateTime(required=True)
    end = UTCDateTime(required=True)
    met = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    breached = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    breaches = fields.Integer(required=True)
    opened = fields.Integer(required=True)


class TrendDumpSchema(Schema):
    granularity = fields.String(required=True, validate=validate.OneOf(["day", "week"]))
    buckets = fields.List(fields.Nested(TrendBucketDumpSchema), required=True)
    truncated = fields.Boolean(required=True)


class DashboardDumpSchema(Schema):
    period = fields.Nested(PeriodDumpSchema, attribute="filter", required=True)
    now = UTCDateTime(required=True, metadata={"description": "The instant the figures are for."})
    hit_rates = fields.List(fields.Nested(HitRateDumpSchema), required=True)
    breaches = fields.List(fields.Nested(BreachCountDumpSchema), required=True)
    response_times = fields.List(fields.Nested(ResponseTimeDumpSchema), required=True)
    backlog = fields.List(fields.Nested(BacklogBucketDumpSchema), required=True)
    at_risk = fields.List(fields.Nested(AtRiskDumpSchema), required=True)
    repeats = fields.Nested(RepeatSummaryDumpSchema, required=True)
    first_contact = fields.Nested(FirstContactDumpSchema, required=True)
    escalations = fields.List(fields.Nested(EscalationCountDumpSchema), required=True)
    daily = fields.Nested(TrendDumpSchema, required=True)
    weekly = fields.Nested(TrendDumpSchema, required=True)


class DashboardArgsLoadSchema(Schema):
    start = UTCDateTime(
        data_key="from",
        metadata={"description": "Period start; default: local midnight six days ago."},
    )
    end = UTCDateTime(
        data_key="to", metadata={"description": "Period end (exclusive); default: tonight."}
    )
    channel = SafeString(validate=validate.Length(min=1, max=16))
    team = id_field(strict=False)
    assignee = id_field(strict=False)
    priority = fields.Enum(Priority, by_value=True)
    policy = id_field(strict=False)

    @validates_schema
    def check_period(self, data: dict[str, Any], **_kwargs: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if (start is None) != (end is None):
            raise ValidationError("Give both from and to, or neither.", field_name="_schema")
        if start is not None and end is not None:
            if end <= start:
                raise ValidationError("The period must end after it starts.", field_name="to")
            if (end - start).days > MAX_PERIOD_DAYS:
                raise ValidationError(
                    f"The period may be at most {MAX_PERIOD_DAYS} days.", field_name="to"
                )
