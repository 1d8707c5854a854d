"""Supervisor review: SLA breaches, response times and repeat contacts."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, Form, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from ticketing.clock import utcnow
from ticketing.domain.sla import describe_duration
from ticketing.extensions import db
from ticketing.models import Priority, Role, SlaClock, SlaPolicy, Team, User
from ticketing.services import breach_reviews, reports
from ticketing.services.breach_reviews import BreachReviewError
from ticketing.services.reports import METRICS, ReportFilter
from ticketing.web.access import role_required
from ticketing.web.charts import Chart, Series, bar_chart, line_chart

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")

#: (endpoint, label) pairs shown in the top bar for supervisors
NAV: list[tuple[str, str]] = [
    ("supervisor.dashboard", _l("SLA dashboard")),
    ("supervisor.breaches", _l("Breach review")),
    ("supervisor.repeats", _l("Repeat contacts")),
    ("rules.index", _l("Escalation rules")),
    ("canned.index", _l("Canned responses")),
]

PAGE_SIZE = 25
#: the longest period a report accepts, so one request cannot scan years of clocks
MAX_PERIOD_DAYS = 366
CHANNELS = (("email", _l("E-mail")), ("sms", _l("SMS")), ("web", _l("Web form")))
METRIC_LABELS = {
    "first_response": _l("First response"),
    "next_response": _l("Next response"),
    "resolution": _l("Resolution"),
}
BACKLOG_LABELS = {
    "lt_1d": _l("Under 1 day"),
    "1_3d": _l("1 to 3 days"),
    "3_7d": _l("3 to 7 days"),
    "gt_7d": _l("Over 7 days"),
}
DECISION_LABELS = {
    "acknowledged": _l("Acknowledged"),
    "annotated": _l("Annotated"),
    "excused": _l("Excused"),
}
REVIEW_FILTER_LABELS = {
    "all": _l("All"),
    "unreviewed": _l("Not reviewed"),
    **DECISION_LABELS,
}
#: characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- forms --------------------------------------------------------------------------------------


class ReportFilterForm(Form):
    """The period and slice of a report, read from the query string (GET: no CSRF token)."""

    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("To"), validators=[Optional()])
    channel = SelectField(_l("Channel"), validators=[Optional()], validate_choice=True)
    team = SelectField(_l("Team"), validators=[Optional()], validate_choice=True)
    agent = SelectField(_l("Agent"), validators=[Optional()], validate_choice=True)
    priority = SelectField(_l("Priority"), validators=[Optional()], validate_choice=True)
    policy = SelectField(_l("SLA policy"), validators=[Optional()], validate_choice=True)


class BreachReviewForm(FlaskForm):
    action = StringField(validators=[AnyOf(list(breach_reviews.ACTIONS))])
    reason = TextAreaField(validators=[Length(max=breach_reviews.MAX_TEXT)])
    next = HiddenField()


@dataclass
class Selection:
    """A validated report request: the filter, the form to show again, and its query args."""

    filter: ReportFilter
    form: ReportFilterForm
    first_day: date
    last_day: date
    args: dict[str, str]


def _display_timezone() -> str:
    return str(current_app.config["DISPLAY_TIMEZONE"])


def _choices() -> dict[str, list[tuple[str, str]]]:
    teams = db.session.execute(sa.select(Team.id, Team.name).order_by(Team.name)).all()
    agents = db.session.execute(
        sa.select(User.id, User.name).where(User.is_active_account).order_by(User.name)
    ).all()
    policies = db.session.execute(
        sa.select(SlaPolicy.id, SlaPolicy.name).order_by(SlaPolicy.position, SlaPolicy.name)
    ).all()
    return {
        "channel": [("", _("All channels")), *((key, str(label)) for key, label in CHANNELS)],
        "team": [("", _("All teams")), *((str(i), name) for i, name in teams)],
        "agent": [("", _("All agents")), *((str(i), name) for i, name in agents)],
        "priority": [("", _("All priorities")), *((p.value, p.value) for p in Priority)],
        "policy": [("", _("All policies")), *((str(i), name) for i, name in policies)],
    }


def _selection(now: datetime) -> Selection:
    """Read the filter from the query string; anything invalid falls back and is reported."""
    form = ReportFilterForm(request.args)
    for name, choices in _choices().items():
        getattr(form, name).choices = choices
    timezone = _display_timezone()
    default_first, default_last = reports.default_period(now, timezone)
    if not form.validate():
        flash(_("Some filters were not understood and were ignored."), "error")
        for name, field in form._fields.items():
            if field.errors:
                field.data = None
                field.errors = []
                if name in ("start", "end"):
                    field.raw_data = []
    first_day = form.start.data or default_first
    last_day = form.end.data or default_last
    if last_day < first_day:
        flash(_("The period ended before it started; the dates were swapped."), "error")
        first_day, last_day = last_day, first_day
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        flash(_("A period covers at most %(days)d days; the start was moved.",
                days=MAX_PERIOD_DAYS), "error")
        first_day = last_day - timedelta(days=MAX_PERIOD_DAYS - 1)
    form.start.data, form.end.data = first_day, last_day
    start, end = reports.period_for_dates(first_day, last_day, timezone)
    report_filter = ReportFilter(
        start=start,
        end=end,
        channel=form.channel.data or None,
        team_id=_as_int(form.team.data),
        assignee_id=_as_int(form.agent.data),
        priority=form.priority.data or None,
        policy_id=_as_int(form.policy.data),
    )
    args = {"start": first_day.isoformat(), "end": last_day.isoformat()}
    for name in ("channel", "team", "agent", "priority", "policy"):
        value = getattr(form, name).data
        if value:
            args[name] = str(value)
    return Selection(report_filter, form, first_day, last_day, args)


def _as_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --- formatting helpers for the templates -------------------------------------------------------


def percent(value: float | None) -> str:
    if value is None:
        return "–"
    return format_percent(value, format="#,##0.0%")


def number(value: float | None) -> str:
    if value is None:
        return "–"
    return format_decimal(value, format="#,##0.#")


def business_time(seconds: float | None) -> str:
    return "–" if seconds is None else describe_duration(seconds)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "percent": percent,
        "number": number,
        "business_time": business_time,
        "metric_label": lambda metric: METRIC_LABELS.get(metric, metric),
        "decision_label": lambda decision: DECISION_LABELS.get(decision, decision),
        "backlog_label": lambda key: BACKLOG_LABELS.get(key, key),
        "display_timezone": _display_timezone(),
    }


# --- pages --------------------------------------------------------------------------------------


@bp.get("/")
@role_required(Role.supervisor)
def dashboard():
    now = utcnow()
    selection = _selection(now)
    data = reports.build_dashboard(selection.filter, now=now, timezone=_display_timezone())
    return render_template(
        "supervisor/dashboard.html",
        selection=selection,
        data=data,
        charts=_trend_charts(data.daily, "day") + _trend_charts(data.weekly, "week"),
        contact_rows=_contact_rows(data),
    )


@bp.get("/breaches")
@role_required(Role.supervisor)
def breaches():
    now = utcnow()
    selection = _selection(now)
    review = request.args.get("review", "all")
    if review not in reports.REVIEW_FILTERS:
        review = "all"
    page = reports.list_breaches(
        selection.filter,
        review=review,
        after=reports.BreachCursor.parse(request.args.get("after")),
        limit=PAGE_SIZE,
    )
    timezone = _display_timezone()
    clocks = [clock for clock, _ticket, _review in page.rows]
    return render_template(
        "supervisor/breaches.html",
        selection=selection,
        review=review,
        review_filters=REVIEW_FILTER_LABELS,
        page=page,
        counts=reports.breach_counts(selection.filter),
        hit_rates=reports.hit_rates(selection.filter),
        explanations={c.id: breach_reviews.explain_clock(c, timezone) for c in clocks},
        history=breach_reviews.review_history(clocks),
        form=BreachReviewForm(formdata=None),
        actions=breach_reviews.ACTIONS,
        is_first_page=not request.args.get("after"),
    )


@bp.post("/breaches/<int:clock_id>/review")
@role_required(Role.supervisor)
def review_breach(clock_id: int):
    clock = db.session.get(SlaClock, clock_id) or abort(404)
    form = BreachReviewForm()
    target = _safe_return(form.next.data) or url_for(".breaches")
    if not form.validate():
        flash(_("The review could not be saved: choose an action and keep the reason short."),
              "error")
        return redirect(f"{target}#breach-{clock_id}")
    try:
        breach_reviews.review_breach(
            clock,
            action=form.action.data,
            text=form.reason.data or "",
            reviewer=current_user._get_current_object(),  # type: ignore[attr-defined]
            now=utcnow(),
        )
    except BreachReviewError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("Review saved."), "success")
    return redirect(f"{target}#breach-{clock_id}")


def _safe_return(value: str | None) -> str | None:
    """Only a path on this site's breach page is followed back (no open redirect)."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(url_for(".breaches")):
        return None
    if "\\" in value or "\n" in value or "\r" in value:
        return None
    return value


@bp.get("/repeats")
@role_required(Role.supervisor)
def repeats():
    selection = _selection(utcnow())
    return render_template(
        "supervisor/repeats.html",
        selection=selection,
        data=reports.build_repeat_report(selection.filter),
    )


# --- charts and derived tables ------------------------------------------------------------------


def _trend_charts(trend: reports.Trend, granularity: str) -> list[Chart]:
    categories = [bucket.label for bucket in trend.buckets]
    per = _("per day") if granularity == "day" else _("per week")
    row_header = _("Day") if granularity == "day" else _("Week")
    hits = line_chart(
        f"hit-rate-{granularity}",
        title=_("SLA hit rate %(per)s", per=per),
        description=_("Share of clocks that stopped in time, by metric; a gap means no clock "
                      "of that metric stopped then."),
        categories=categories,
        series=[
            Series(str(METRIC_LABELS[metric]),
                   [bucket.hit_rate(metric) for bucket in trend.buckets])
            for metric in METRICS
        ],
        formatter=percent,
        row_header=row_header,
        y_max=1.0,
    )
    volume = bar_chart(
        f"volume-{granularity}",
        title=_("Tickets opened and breaches %(per)s", per=per),
        description=_("Tickets opened, and clocks whose deadline passed, in each bucket."),
        categories=categories,
        series=[
            Series(_("Tickets opened"), [bucket.opened for bucket in trend.buckets]),
            Series(_("Breaches"), [bucket.breaches for bucket in trend.buckets]),
        ],
        formatter=number,
        row_header=row_header,
    )
    return [hits, volume]


def _contact_rows(data: reports.Dashboard) -> list[tuple[str, str, str]]:
    """(key, label, shown value) of the repeat-contact and first-contact table."""
    repeats, first = data.repeats, data.first_contact
    return [
        ("tickets_opened", _("Tickets opened"), number(repeats.tickets)),
        ("tickets_with_repeats", _("Tickets with a repeat contact"),
         number(repeats.repeat_tickets)),
        ("repeat_rate", _("Repeat-contact rate"), percent(repeats.repeat_rate)),
        ("contacts", _("Contacts on these tickets"), number(repeats.contacts)),
        ("repeat_contacts", _("Repeat contacts"), number(repeats.repeat_contacts)),
        ("repeats_per_100_contacts", _("Repeat contacts per 100 contacts"),
         number(repeats.repeats_per_100_contacts)),
        ("again_mentions", _("Messages saying it again"), number(repeats.again_mentions)),
        ("tickets_solved", _("Tickets solved"), number(first.solved)),
        ("first_contact_resolved", _("Solved on first contact"), number(first.first_contact)),
        ("first_contact_rate", _("First-contact resolution"), percent(first.rate)),
    ]


# --- CSV export ---------------------------------------------------------------------------------


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell; text that a spreadsheet would run as a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]], flush_bytes: int = 32_768
               ) -> Iterator[str]:
    """CSV text in chunks of about `flush_bytes`, never the whole file at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= flush_bytes:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def safe_filename(*parts: str) -> str:
    """An ASCII file name made of the parts: letters, digits, dot, dash and underscore only."""
    name = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", part).strip("-.") for part in parts if part)
    return (name[:150] or "export") + ".csv"


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


ExportRows = tuple[list[str], Iterable[Sequence[Any]]]


def _export_hit_rates(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["metric", "met", "breached", "excused", "hit_rate", "adjusted_hit_rate"],
        ([r.metric, r.met, r.breached, r.excused, _rate(r.rate), _rate(r.adjusted_rate)]
         for r in reports.hit_rates(f)),
    )


def _export_breach_counts(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["metric", "breached", "still_running", "unreviewed", "acknowledged", "annotated",
         "excused"],
        ([c.metric, c.total, c.running, c.unreviewed, c.acknowledged, c.annotated, c.excused]
         for c in reports.breach_counts(f)),
    )


def _export_response_times(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["metric", "clocks", "median_business_seconds", "p90_business_seconds"],
        ([t.metric, t.count, t.median, t.p90] for t in reports.response_times(f)),
    )


def _export_backlog(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["age", "open_tickets"],
        ([b.key, b.count] for b in reports.backlog_by_age(f, now=now)),
    )


def _export_at_risk(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["metric", "at_risk", "overdue"],
        ([a.metric, a.at_risk, a.overdue] for a in reports.at_risk_now(f, now=now)),
    )


def _export_contacts(f: ReportFilter, now: datetime) -> ExportRows:
    repeats, first = reports.repeat_summary(f), reports.first_contact_resolution(f)
    rows = [
        ("tickets_opened", repeats.tickets),
        ("tickets_with_repeats", repeats.repeat_tickets),
        ("repeat_rate", _rate(repeats.repeat_rate)),
        ("contacts", repeats.contacts),
        ("repeat_contacts", repeats.repeat_contacts),
        ("repeats_per_100_contacts", _rate(repeats.repeats_per_100_contacts)),
        ("again_mentions", repeats.again_mentions),
        ("tickets_solved", first.solved),
        ("first_contact_resolved", first.first_contact),
        ("first_contact_rate", _rate(first.rate)),
    ]
    return ["figure", "value"], rows


def _export_escalations(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["rule_id", "rule", "firings", "tickets"],
        ([e.rule_id, e.rule_name, e.firings, e.tickets] for e in reports.escalation_counts(f)),
    )


def _export_trend(granularity: str) -> Callable[[ReportFilter, datetime], ExportRows]:
    def export(f: ReportFilter, now: datetime) -> ExportRows:
        trend = reports.trend(f, granularity=granularity, timezone=_display_timezone())
        header = [granularity, "start", "end"]
        for metric in METRICS:
            header += [f"{metric}_met", f"{metric}_breached", f"{metric}_hit_rate"]
        header += ["breaches", "tickets_opened"]

        def rows() -> Iterator[list[Any]]:
            for bucket in trend.buckets:
                row: list[Any] = [bucket.label, bucket.start, bucket.end]
                for metric in METRICS:
                    row += [bucket.met.get(metric, 0), bucket.breached.get(metric, 0),
                            _rate(bucket.hit_rate(metric))]
                yield row + [bucket.breaches, bucket.opened]

        return header, rows()

    return export


_BREACH_COLUMNS = [
    "clock_id", "ticket", "subject", "metric", "cycle", "priority", "started_at", "due_at",
    "breached_at", "stopped_at", "business_seconds_used", "paused_business_seconds",
    "target_seconds", "still_running", "review", "reason", "note", "reviewed_by", "reviewed_at",
    "explanation",
]


def _export_breaches(f: ReportFilter, now: datetime) -> ExportRows:
    review = request.args.get("review", "all")
    if review not in reports.REVIEW_FILTERS:
        review = "all"
    timezone = _display_timezone()

    def rows() -> Iterator[list[Any]]:
        for row in reports.iter_breaches(f, review=review):
            yield [
                row["id"], f"T-{row['ticket_id']}", row["subject"], row["metric"], row["cycle"],
                row["priority"], row["started_at"], row["due_at"], row["breached_at"],
                row["stopped_at"], row["elapsed_seconds"], row["paused_seconds"],
                row["target_seconds"], bool(row["is_running"]), row["decision"] or "unreviewed",
                row["reason"], row["note"], row["name"], row["reviewed_at"],
                "; ".join(breach_reviews.explain_clock(row, timezone)),
            ]

    return _BREACH_COLUMNS, rows()


def _export_repeat_customers(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["customer_id", "customer", "tickets", "tickets_with_repeats", "contacts",
         "repeat_contacts", "again_mentions"],
        ([row[0], row[6], *row[1:6]] for row in reports.iter_repeat_customers(f)),
    )


def _export_repeat_topics(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["source", "topic", "tickets", "tickets_with_repeats", "repeat_contacts"],
        ([t.source, t.topic, t.tickets, t.repeat_tickets, t.repeat_contacts]
         for t in reports.repeat_topics(f, limit=200)),
    )


def _export_repeat_cues(f: ReportFilter, now: datetime) -> ExportRows:
    cues = reports.again_cue_words(f)
    return (
        ["cue", "kind", "mentions", "tickets", "example_tickets"],
        ([c.match, c.kind, c.mentions, c.tickets, " ".join(f"T-{i}" for i in c.links)]
         for c in cues.words),
    )


def _export_repeat_channels(f: ReportFilter, now: datetime) -> ExportRows:
    return (
        ["channel", "repeat_contacts"],
        ([c.channel, c.repeat_contacts] for c in reports.repeat_channels(f)),
    )


def _export_repeat_tickets(f: ReportFilter, now: datetime) -> ExportRows:
    columns = ["reference", "subject", "channel", "status", "opened_at", "customer_id",
               "customer_name", "contact_count", "repeat_contacts", "again_mentions",
               "repeat_of_id"]
    return columns, ([row[c] for c in columns] for row in reports.iter_repeat_tickets(f))


#: every table on the supervisor pages, by its export name
EXPORTS: dict[str, Callable[[ReportFilter, datetime], ExportRows]] = {
    "hit-rates": _export_hit_rates,
    "breach-counts": _export_breach_counts,
    "response-times": _export_response_times,
    "backlog": _export_backlog,
    "at-risk": _export_at_risk,
    "contacts": _export_contacts,
    "escalations": _export_escalations,
    "trend-day": _export_trend("day"),
    "trend-week": _export_trend("week"),
    "breaches": _export_breaches,
    "repeat-customers": _export_repeat_customers,
    "repeat-topics": _export_repeat_topics,
    "repeat-cues": _export_repeat_cues,
    "repeat-channels": _export_repeat_channels,
    "repeat-tickets": _export_repeat_tickets,
}


@bp.get("/export/<table>.csv")
@role_required(Role.supervisor)
def export(table: str):
    build = EXPORTS.get(table) or abort(404)
    now = utcnow()
    selection = _selection(now)
    header, rows = build(selection.filter, now)
    filename = safe_filename(table, selection.first_day.isoformat(),
                             selection.last_day.isoformat())
    return Response(
        stream_with_context(csv_stream(header, rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
