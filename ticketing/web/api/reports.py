"""/api/v1/sla-policies and /api/v1/dashboard: policies and the supervisor figures."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, current_app

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import Role, SlaPolicy
from ticketing.schemas import SlaPolicyDumpSchema, SlaPolicyListDumpSchema
from ticketing.schemas.report import DashboardArgsLoadSchema, DashboardDumpSchema
from ticketing.services import reports
from ticketing.web.api import bp
from ticketing.web.api.common import get_or_404, load_args, requires_role, respond
from ticketing.web.api.errors import invalid


@bp.get("/sla-policies")
@requires_role(Role.agent)
def list_policies() -> Response:
    """Every SLA policy in evaluation order (the first matching active one applies)."""
    policies = db.session.scalars(sa.select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id))
    return respond(SlaPolicyListDumpSchema(), {"items": list(policies)})


@bp.get("/sla-policies/<int:policy_id>")
@requires_role(Role.agent)
def get_policy(policy_id: int) -> Response:
    return respond(SlaPolicyDumpSchema(), get_or_404(SlaPolicy, policy_id, "SLA policy"))


@bp.get("/dashboard")
@requires_role(Role.supervisor)
def dashboard() -> Response:
    """The supervisor dashboard's figures for a period (default: the last seven local days)."""
    args = load_args(DashboardArgsLoadSchema())
    now = utcnow()
    timezone = current_app.config["DISPLAY_TIMEZONE"]
    start, end = args.get("start"), args.get("end")
    if start is None or end is None:
        start, end = reports.period_for_dates(*reports.default_period(now, timezone), timezone)
    try:
        report = reports.ReportFilter(
            start=start,
            end=end,
            channel=args.get("channel"),
            team_id=args.get("team"),
            assignee_id=args.get("assignee"),
            priority=args["priority"].value if args.get("priority") else None,
            policy_id=args.get("policy"),
        )
    except reports.ReportError as error:
        raise invalid({"_schema": [str(error)]}) from None
    figures = reports.build_dashboard(report, now=now, timezone=timezone)
    return respond(DashboardDumpSchema(), figures)
