"""Supervisor figures against a small data set computed by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from ticketing.models import (
    BreachReview,
    Customer,
    Direction,
    EscalationFiring,
    EscalationRule,
    Message,
    Priority,
    Role,
    SlaClock,
    SlaPolicy,
    Tag,
    Team,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from ticketing.services import breach_reviews, reports
from ticketing.services.breach_reviews import BreachReviewError, review_breach
from ticketing.services.reports import ReportFilter

AMSTERDAM = "Europe/Amsterdam"
#: the fixtures' instant: Monday 2 March 2026, 10:30 in Amsterdam
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def feb(day: int, hour: int, minute: int = 0) -> datetime:
    return at(2, day, hour, minute)


def mar(day: int, hour: int, minute: int = 0) -> datetime:
    return at(3, day, hour, minute)


@dataclass
class World:
    """The hand-made desk: ids of everything the expectations refer to."""

    period: ReportFilter
    tickets: dict[str, Ticket]
    clocks: dict[str, SlaClock]
    team_a: int
    team_b: int
    agent_1: int
    agent_2: int
    policy_1: int
    policy_2: int
    rule_notify: int
    rule_vip: int
    customers: dict[str, Customer]
    supervisor: object


def _ticket(db_session, name, customer, *, channel, team, assignee, priority, policy, status,
            opened, solved=None, contacts=1, repeats=0, again=0, subject=""):
    ticket = Ticket(
        customer=customer, subject=subject or f"Ticket {name}", channel=channel,
        team_id=team, assignee_id=assignee, priority=Priority(priority), policy_id=policy,
        status=TicketStatus(status), opened_at=opened, updated_at=opened, solved_at=solved,
        contact_count=contacts, repeat_contacts=repeats, again_mentions=again,
    )
    db_session.add(ticket)
    return ticket


def _clock(db_session, ticket, metric, *, state, elapsed=0, started=None, stopped=None,
           due=None, warn=None, breached=None, cycle=1, target=3600, running=None):
    is_running = running if running is not None else (stopped is None and state != "paused")
    started = started or ticket.opened_at
    clock = SlaClock(
        ticket_id=ticket.id, metric=metric, cycle=cycle, state=state,
        priority=ticket.priority.value, policy_id=ticket.policy_id, started_at=started,
        due_at=due, warn_at=warn, stopped_at=stopped, breached_at=breached,
        elapsed_seconds=elapsed, target_seconds=target, is_running=is_running,
        segments=[{"kind": "start", "at": started.isoformat(), "detail": None}]
        + ([{"kind": "stop", "at": stopped.isoformat(), "detail": "agent_reply"}]
           if stopped else []),
        computed_at=NOW,
    )
    db_session.add(clock)
    return clock


def _message(db_session, ticket, *, cues, direction=Direction.inbound, meta=None, at_=None):
    message = Message(
        ticket_id=ticket.id, direction=direction, channel=ticket.channel, text="…",
        new_text="…", again_cues=cues, meta=meta or {}, created_at=at_ or ticket.opened_at,
    )
    db_session.add(message)
    return message


def _user(db_session, role, number, team=None):
    # Rows written directly: password hashing (scrypt) would dominate these tests' run time.
    user = User(email=f"desk-{role}{number}@example.org", name=f"{role.title()} {number}",
                password_hash="!", role=Role(role), team=team)
    db_session.add(user)
    return user


@pytest.fixture
def world(db_session) -> World:
    return build_world(db_session)


def build_world(db_session) -> World:
    """Write the hand-made desk (shared with the web tests)."""
    team_a, team_b = Team(name="Team A"), Team(name="Team B")
    policy_1 = SlaPolicy(name="Standard", calendar={"24/7": True}, targets={})
    policy_2 = SlaPolicy(name="Web", calendar={"24/7": True}, targets={})
    notify = EscalationRule(name="Notify on breach")
    vip = EscalationRule(name="VIP")
    db_session.add_all([team_a, team_b, policy_1, policy_2, notify, vip])
    customers = {name: Customer(name=name) for name in ("Anna", "Bram", "Cor")}
    db_session.add_all(customers.values())
    agent_1, agent_2 = _user(db_session, "agent", 1, team_a), _user(db_session, "agent", 2, team_b)
    supervisor = _user(db_session, "supervisor", 3)
    db_session.flush()
    a, b = team_a.id, team_b.id
    p1, p2 = policy_1.id, policy_2.id
    anna, bram, cor = customers["Anna"], customers["Bram"], customers["Cor"]

    t = {}
    t["T1"] = _ticket(db_session, "T1", anna, channel="email", team=a, assignee=agent_1.id,
                      priority="normal", policy=p1, status="solved", opened=feb(23, 9),
                      solved=feb(24, 10), subject="Bestelling niet ontvangen")
    t["T2"] = _ticket(db_session, "T2", anna, channel="sms", team=a, assignee=agent_1.id,
                      priority="high", policy=p1, status="solved", opened=feb(24, 8),
                      solved=feb(25, 12), contacts=3, repeats=2, again=2,
                      subject="Re: Factuur klopt niet")
    t["T3"] = _ticket(db_session, "T3", bram, channel="web", team=b, assignee=agent_2.id,
                      priority="normal", policy=p2, status="open", opened=feb(26, 10),
                      contacts=2, repeats=1, again=1, subject="Factuur klopt niet")
    t["T4"] = _ticket(db_session, "T4", bram, channel="email", team=b, assignee=agent_2.id,
                      priority="urgent", policy=p2, status="solved", opened=feb(27, 9),
                      solved=feb(27, 15))
    t["T5"] = _ticket(db_session, "T5", anna, channel="email", team=a, assignee=None,
                      priority="low", policy=p1, status="pending", opened=feb(10, 9), again=1)
    t["T6"] = _ticket(db_session, "T6", cor, channel="sms", team=b, assignee=agent_1.id,
                      priority="normal", policy=p1, status="open", opened=feb(28, 12))
    t["T7"] = _ticket(db_session, "T7", cor, channel="web", team=None, assignee=None,
                      priority="normal", policy=p2, status="new", opened=mar(2, 8))
    t["T8"] = _ticket(db_session, "T8", anna, channel="email", team=a, assignee=agent_1.id,
                      priority="normal", policy=p1, status="closed", opened=feb(20, 9),
                      solved=feb(23, 12), contacts=2)
    t["T9"] = _ticket(db_session, "T9", cor, channel="email", team=b, assignee=agent_2.id,
                      priority="normal", policy=p2, status="open", opened=mar(1, 20))
    # Opened exactly one day before NOW: the 1-3 day bucket, not the under-a-day one.
    t["T10"] = _ticket(db_session, "T10", cor, channel="web", team=b, assignee=None,
                       priority="normal", policy=p2, status="new", opened=mar(1, 9, 30))
    db_session.flush()

    c = {}
    # first response: 600, 1200, 1800 met; 3000 and 7200 breached; T8's stopped before the period
    c["T1.fr"] = _clock(db_session, t["T1"], "first_response", state="met", elapsed=600,
                        stopped=feb(23, 9, 10), due=feb(23, 10))
    c["T2.fr"] = _clock(db_session, t["T2"], "first_response", state="met", elapsed=1200,
                        stopped=feb(24, 8, 20), due=feb(24, 9))
    c["T3.fr"] = _clock(db_session, t["T3"], "first_response", state="met", elapsed=1800,
                        stopped=feb(26, 10, 30), due=feb(26, 11))
    c["T4.fr"] = _clock(db_session, t["T4"], "first_response", state="breached", elapsed=3000,
                        stopped=feb(27, 9, 50), due=feb(27, 9, 30), breached=feb(27, 9, 30),
                        target=1800)
    c["T6.fr"] = _clock(db_session, t["T6"], "first_response", state="breached", elapsed=7200,
                        stopped=feb(28, 14), due=feb(28, 13), breached=feb(28, 13))
    c["T8.fr"] = _clock(db_session, t["T8"], "first_response", state="breached", elapsed=9000,
                        stopped=feb(20, 12), due=feb(20, 10), breached=feb(20, 10))
    # next response: T2 cycle 1 met (900), cycle 2 breached (2700); T3 breached and running
    c["T2.nr1"] = _clock(db_session, t["T2"], "next_response", state="met", elapsed=900,
                         started=feb(24, 9), stopped=feb(24, 9, 15), due=feb(24, 10))
    c["T2.nr2"] = _clock(db_session, t["T2"], "next_response", state="breached", cycle=2,
                         elapsed=2700, started=feb(25, 8), stopped=feb(25, 8, 45),
                         due=feb(25, 8, 30), breached=feb(25, 8, 30), target=1800)
    c["T3.nr1"] = _clock(db_session, t["T3"], "next_response", state="breached", elapsed=86400,
                         started=feb(27, 10), due=feb(28, 10), warn=feb(27, 20),
                         breached=feb(28, 10), target=86400)
    # resolution: 21600, 28800, 50000 met; 100800 breached; running and paused ones
    c["T1.res"] = _clock(db_session, t["T1"], "resolution", state="met", elapsed=28800,
                         stopped=feb(24, 10), due=feb(26, 9), target=172800)
    c["T2.res"] = _clock(db_session, t["T2"], "resolution", state="breached", elapsed=100800,
                         stopped=feb(25, 12), due=feb(25, 8), breached=feb(25, 8),
                         target=86400)
    c["T4.res"] = _clock(db_session, t["T4"], "resolution", state="met", elapsed=21600,
                         stopped=feb(27, 15), due=feb(28, 9), target=86400)
    c["T8.res"] = _clock(db_session, t["T8"], "resolution", state="met", elapsed=50000,
                         stopped=feb(23, 12), due=feb(25, 9), target=172800)
    c["T3.res"] = _clock(db_session, t["T3"], "resolution", state="at_risk", elapsed=70000,
                         due=mar(3, 10), warn=mar(2, 8), target=86400)
    c["T6.res"] = _clock(db_session, t["T6"], "resolution", state="running", elapsed=3000,
                         due=mar(3, 12), warn=mar(2, 12), target=86400)
    c["T5.res"] = _clock(db_session, t["T5"], "resolution", state="paused", elapsed=4000,
                         target=86400)
    c["T7.fr"] = _clock(db_session, t["T7"], "first_response", state="running", elapsed=600,
                        due=mar(2, 12), warn=mar(2, 11))
    c["T9.fr"] = _clock(db_session, t["T9"], "first_response", state="at_risk", elapsed=3000,
                        due=mar(2, 10), warn=mar(2, 9))
    # Due exactly now and not yet swept: overdue, although its stored state still says running.
    c["T10.fr"] = _clock(db_session, t["T10"], "first_response", state="running", elapsed=3600,
                         due=NOW, warn=mar(2, 9))
    db_session.flush()

    # T4 was solved, reopened and solved again: not a first-contact resolution.
    db_session.add(TicketEvent(ticket_id=t["T4"].id, at=feb(27, 12), type="ticket.reopened"))
    for ticket, channel in ((t["T2"], "sms"), (t["T2"], "sms"), (t["T3"], "web")):
        db_session.add(TicketEvent(ticket_id=ticket.id, at=ticket.opened_at,
                                   type="repeat.detected", data={"channel": channel}))
    # Repeat contacts are counted by when they happened: T5's before the period does not count,
    # T8's in the period does although T8 opened before it.
    db_session.add(TicketEvent(ticket_id=t["T5"].id, at=feb(10, 10), type="repeat.detected",
                               data={"channel": "email"}))
    db_session.add(TicketEvent(ticket_id=t["T8"].id, at=feb(23, 10), type="repeat.detected",
                               data={"channel": "email"}))

    firings = [
        (notify, t["T2"], feb(25, 8, 31)), (notify, t["T3"], feb(28, 10, 1)),
        (notify, t["T6"], feb(28, 13, 1)), (vip, t["T4"], feb(27, 9, 31)),
        (vip, t["T5"], feb(10, 12)),  # before the period
    ]
    for rule, ticket, fired in firings:
        db_session.add(EscalationFiring(rule_id=rule.id, ticket_id=ticket.id, episode=1,
                                        fired_at=fired, trigger="sweep"))

    invoice = Tag(name="invoice")
    db_session.add(invoice)
    db_session.flush()
    t["T2"].tags.append(invoice)
    _message(db_session, t["T2"], cues=[{"start": 0, "end": 6, "match": "Alweer",
                                         "kind": "again"}])
    _message(db_session, t["T2"], cues=[{"start": 4, "end": 14, "match": "nog  steeds",
                                         "kind": "still"}])
    _message(db_session, t["T2"], cues=[{"start": 0, "end": 5, "match": "again",
                                         "kind": "again"}], direction=Direction.outbound)
    _message(db_session, t["T3"], cues=[{"start": 0, "end": 6, "match": "alweer",
                                         "kind": "again"}], meta={"category": "billing"})
    _message(db_session, t["T3"], cues=[])
    _message(db_session, t["T5"], cues=[{"start": 0, "end": 4, "match": "weer",
                                         "kind": "again"}])
    db_session.flush()

    review_breach(c["T4.fr"], action="excuse", text="Storing bij de provider",
                  reviewer=supervisor, now=NOW)
    review_breach(c["T2.nr2"], action="acknowledge", text="", reviewer=supervisor, now=NOW)
    review_breach(c["T3.nr1"], action="annotate", text="Wacht op magazijn",
                  reviewer=supervisor, now=NOW)
    db_session.flush()

    start, end = reports.period_for_dates(date(2026, 2, 23), date(2026, 3, 1), AMSTERDAM)
    return World(
        period=ReportFilter(start=start, end=end), tickets=t, clocks=c, team_a=a, team_b=b,
        agent_1=agent_1.id, agent_2=agent_2.id, policy_1=p1, policy_2=p2,
        rule_notify=notify.id, rule_vip=vip.id, customers=customers, supervisor=supervisor,
    )


# --- period and filter ------------------------------------------------------------------------


def test_period_for_dates_uses_local_midnights():
    start, end = reports.period_for_dates(date(2026, 2, 23), date(2026, 3, 1), AMSTERDAM)
    assert (start, end) == (feb(22, 23), mar(1, 23))


def test_default_period_is_the_last_seven_local_days_including_today():
    late_sunday = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # already Monday in Amsterdam
    assert reports.default_period(late_sunday, AMSTERDAM) == (date(2026, 2, 24), date(2026, 3, 2))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": feb(1, 0)}, "end after it starts"),
        ({"start": datetime(2026, 2, 1)}, "timezone-aware"),
        ({"priority": "critical"}, "unknown priority"),
    ],
)
def test_report_filter_refuses_nonsense(changes, message):
    base = {"start": feb(2, 0), "end": feb(9, 0)}
    with pytest.raises(reports.ReportError, match=message):
        ReportFilter(**{**base, **changes})


# --- SLA figures --------------------------------------------------------------------------------


def test_hit_rates_count_clocks_stopped_in_the_period(world):
    rates = {rate.metric: rate for rate in reports.hit_rates(world.period)}
    first = rates["first_response"]
    assert (first.met, first.breached, first.excused) == (3, 2, 1)
    assert first.rate == 0.6
    assert first.adjusted_rate == 0.75
    following = rates["next_response"]
    assert (following.met, following.breached, following.excused) == (1, 1, 0)
    assert following.rate == following.adjusted_rate == 0.5
    resolution = rates["resolution"]
    assert (resolution.met, resolution.breached, resolution.excused) == (3, 1, 0)
    assert resolution.rate == 0.75


def test_breach_counts_by_review_outcome(world):
    counts = {count.metric: count for count in reports.breach_counts(world.period)}
    assert counts["first_response"] == reports.BreachCount(
        "first_response", total=2, running=0, unreviewed=1, acknowledged=0, annotated=0,
        excused=1,
    )
    assert counts["next_response"] == reports.BreachCount(
        "next_response", total=2, running=1, unreviewed=0, acknowledged=1, annotated=1,
        excused=0,
    )
    assert counts["resolution"] == reports.BreachCount(
        "resolution", total=1, running=0, unreviewed=1, acknowledged=0, annotated=0, excused=0,
    )


def test_response_time_percentiles_interpolate_linearly(world):
    times = {time.metric: time for time in reports.response_times(world.period)}
    # 600 1200 1800 3000 7200: median at rank 2; p90 at 3.6 -> 3000 + 0.6 x 4200
    assert times["first_response"] == reports.ResponseTime("first_response", 5, 1800.0, 5520.0)
    # 900 2700: median at 0.5 -> 1800; p90 at 0.9 -> 900 + 0.9 x 1800
    assert times["next_response"] == reports.ResponseTime("next_response", 2, 1800.0, 2520.0)
    # 21600 28800 50000 100800: median at 1.5 -> 39400; p90 at 2.7 -> 50000 + 0.7 x 50800
    assert times["resolution"] == reports.ResponseTime("resolution", 4, 39400.0, 85560.0)


def test_portable_percentiles_equal_the_database_ones(world):
    for report in (world.period, replace(world.period, channel="sms"),
                   replace(world.period, team_id=world.team_b)):
        assert reports.percentiles_by_offset(report) == reports.response_times(report)


def test_response_times_with_a_filter_and_without_clocks(world):
    sms = {t.metric: t for t in reports.response_times(replace(world.period, channel="sms"))}
    # T2 (1200) and T6 (7200): median 4200, p90 1200 + 0.9 x 6000
    assert sms["first_response"] == reports.ResponseTime("first_response", 2, 4200.0, 6600.0)
    assert sms["resolution"] == reports.ResponseTime("resolution", 1, 100800.0, 100800.0)
    empty = replace(world.period, start=feb(1, 0), end=feb(2, 0))
    assert all(t.count == 0 and t.median is None for t in reports.response_times(empty))


def test_backlog_by_age_counts_open_tickets_now(world):
    backlog = reports.backlog_by_age(world.period, now=NOW)
    # T7 and T9 under a day; T6 and T10 (exactly a day) 1-3 d; T3 3-7 d; T5 (pending) older
    assert [(b.key, b.count) for b in backlog] == [
        ("lt_1d", 2), ("1_3d", 2), ("3_7d", 1), ("gt_7d", 1)
    ]
    team_a = reports.backlog_by_age(replace(world.period, team_id=world.team_a), now=NOW)
    assert [b.count for b in team_a] == [0, 0, 0, 1]


def test_at_risk_now_reads_the_deadlines(world):
    risk = {r.metric: r for r in reports.at_risk_now(world.period, now=NOW)}
    assert risk["first_response"] == reports.AtRisk("first_response", at_risk=1, overdue=1)
    assert risk["next_response"] == reports.AtRisk("next_response", at_risk=0, overdue=1)
    assert risk["resolution"] == reports.AtRisk("resolution", at_risk=1, overdue=0)


def test_repeat_summary_over_tickets_opened_in_the_period(world):
    summary = reports.repeat_summary(world.period)
    assert summary == reports.RepeatSummary(
        tickets=7, repeat_tickets=2, contacts=10, repeat_contacts=3, again_mentions=3
    )
    assert summary.repeat_rate == 2 / 7
    assert summary.repeats_per_100_contacts == 30.0


def test_first_contact_resolution_excludes_reopened_and_multi_contact_tickets(world):
    result = reports.first_contact_resolution(world.period)
    assert (result.solved, result.first_contact, result.rate) == (4, 1, 0.25)
    by_agent_2 = reports.first_contact_resolution(replace(world.period, assignee_id=world.agent_2))
    assert (by_agent_2.solved, by_agent_2.first_contact) == (1, 0)


def test_escalations_by_rule(world):
    counts = reports.escalation_counts(world.period)
    assert counts == [
        reports.EscalationCount(world.rule_notify, "Notify on breach", 3, 3),
        reports.EscalationCount(world.rule_vip, "VIP", 1, 1),
    ]
    team_a = reports.escalation_counts(replace(world.period, team_id=world.team_a))
    assert team_a == [reports.EscalationCount(world.rule_notify, "Notify on breach", 1, 1)]


@pytest.mark.parametrize(
    ("changes", "first_response"),
    [
        ({"team_id": "team_a"}, (2, 0, 0)),
        ({"channel": "sms"}, (1, 1, 0)),
        ({"priority": "urgent"}, (0, 1, 1)),
        ({"policy_id": "policy_2"}, (1, 1, 1)),
        ({"assignee_id": "agent_2"}, (1, 1, 1)),
    ],
)
def test_filters_narrow_the_clock_figures(world, changes, first_response):
    resolved = {k: getattr(world, v) if isinstance(v, str) and k.endswith("_id") else v
                for k, v in changes.items()}
    rates = reports.hit_rates(replace(world.period, **resolved))
    first = rates[0]
    assert (first.met, first.breached, first.excused) == first_response


def test_dashboard_bundles_every_figure(world):
    dashboard = reports.build_dashboard(world.period, now=NOW, timezone=AMSTERDAM)
    assert dashboard.hit_rates == reports.hit_rates(world.period)
    assert dashboard.first_contact.first_contact == 1
    assert [b.label for b in dashboard.daily.buckets][0] == "2026-02-23"


# --- trends -------------------------------------------------------------------------------------


def test_daily_trend_per_local_day(world):
    trend = reports.trend(world.period, granularity="day", timezone=AMSTERDAM)
    labels = [bucket.label for bucket in trend.buckets]
    assert labels == [f"2026-02-{d}" for d in range(23, 29)] + ["2026-03-01"]
    assert [b.opened for b in trend.buckets] == [1, 1, 0, 1, 1, 1, 2]
    assert [b.breaches for b in trend.buckets] == [0, 0, 2, 0, 1, 2, 0]
    first_met = [b.met.get("first_response", 0) for b in trend.buckets]
    first_breached = [b.breached.get("first_response", 0) for b in trend.buckets]
    assert first_met == [1, 1, 0, 1, 0, 0, 0]
    assert first_breached == [0, 0, 0, 0, 1, 1, 0]
    assert [b.hit_rate("resolution") for b in trend.buckets] == [
        1.0, 1.0, 0.0, None, 1.0, None, None
    ]


def test_weekly_trend_shows_eight_weeks_ending_with_the_period(world):
    trend = reports.trend(world.period, granularity="week", timezone=AMSTERDAM)
    assert [b.label for b in trend.buckets] == [f"2026-W{w:02d}" for w in range(2, 10)]
    last = trend.buckets[-1]
    assert (last.opened, last.breaches) == (7, 5)
    assert last.met == {"first_response": 3, "next_response": 1, "resolution": 3}
    assert last.breached == {"first_response": 2, "next_response": 1, "resolution": 1}
    # T8's first response breached on Friday 20 February: the week before.
    assert trend.buckets[-2].breaches == 1
    assert trend.buckets[-2].opened == 1


def test_trend_days_follow_daylight_saving_time():
    start, end = reports.period_for_dates(date(2026, 3, 28), date(2026, 3, 30), AMSTERDAM)
    buckets, truncated = reports.trend_buckets(
        ReportFilter(start=start, end=end), granularity="day", timezone=AMSTERDAM
    )
    assert not truncated
    assert [(b.end - b.start) for b in buckets] == [
        timedelta(hours=24), timedelta(hours=23), timedelta(hours=24)
    ]


def test_stopped_clocks_land_on_their_local_day_across_daylight_saving_time(db_session, world):
    # Around the switch to summer time on Sunday 29 March 2026 (02:00 CET -> 03:00 CEST).
    ticket = world.tickets["T1"]
    instants = [
        at(3, 28, 22, 59),  # Saturday 23:59 CET
        at(3, 28, 23, 0),  # Sunday 00:00 CET
        at(3, 29, 21, 59),  # Sunday 23:59 CEST
        at(3, 29, 22, 0),  # Monday 00:00 CEST
    ]
    for cycle, instant in enumerate(instants, start=2):
        _clock(db_session, ticket, "next_response", state="met", cycle=cycle, elapsed=60,
               started=instant - timedelta(minutes=1), stopped=instant, due=instant)
    db_session.flush()
    start, end = reports.period_for_dates(date(2026, 3, 28), date(2026, 3, 30), AMSTERDAM)
    daily, weekly = reports.trends(ReportFilter(start=start, end=end), timezone=AMSTERDAM)
    assert [b.met.get("next_response", 0) for b in daily.buckets] == [1, 2, 1]
    assert [b.met.get("next_response", 0) for b in weekly.buckets[-2:]] == [3, 1]


def test_weekly_trend_is_truncated_past_a_year():
    start, end = reports.period_for_dates(date(2024, 12, 20), date(2026, 1, 1), AMSTERDAM)
    buckets, truncated = reports.trend_buckets(
        ReportFilter(start=start, end=end), granularity="week", timezone=AMSTERDAM
    )
    assert truncated
    assert len(buckets) == reports.MAX_WEEKS
    assert buckets[-1].label == "2026-W01"


def test_long_periods_keep_the_last_days_of_the_daily_trend():
    start, end = reports.period_for_dates(date(2025, 1, 1), date(2025, 12, 31), AMSTERDAM)
    buckets, truncated = reports.trend_buckets(
        ReportFilter(start=start, end=end), granularity="day", timezone=AMSTERDAM
    )
    assert truncated
    assert len(buckets) == reports.MAX_DAYS
    assert buckets[-1].label == "2025-12-31"


# --- breach list --------------------------------------------------------------------------------


def test_breach_list_pages_newest_first_with_a_keyset(world):
    c = world.clocks
    first = reports.list_breaches(world.period, limit=3)
    assert [row[0].id for row in first.rows] == [c["T6.fr"].id, c["T3.nr1"].id,
                                                 c["T4.fr"].id]
    assert first.next_cursor is not None
    token = first.next_cursor.token()
    second = reports.list_breaches(world.period, limit=3,
                                   after=reports.BreachCursor.parse(token))
    # T2's resolution and next response breached at 08:00 and 08:30 on the 25th
    assert [row[0].id for row in second.rows] == [c["T2.nr2"].id, c["T2.res"].id]
    assert second.next_cursor is None


def test_breach_list_filters_by_review(world):
    c = world.clocks
    excused = reports.list_breaches(world.period, review="excused")
    assert [(row[0].id, row[2].decision) for row in excused.rows] == [(c["T4.fr"].id, "excused")]
    unreviewed = reports.list_breaches(world.period, review="unreviewed")
    assert [row[0].id for row in unreviewed.rows] == [c["T6.fr"].id, c["T2.res"].id]
    with pytest.raises(reports.ReportError):
        reports.list_breaches(world.period, review="deleted")


def test_breach_cursor_ignores_garbage():
    assert reports.BreachCursor.parse("nonsense") is None
    assert reports.BreachCursor.parse(None) is None
    cursor = reports.BreachCursor(feb(25, 8, 30), 42)
    assert reports.BreachCursor.parse(cursor.token()) == cursor


def test_iter_breaches_streams_flat_rows_with_reviews(world):
    rows = list(reports.iter_breaches(world.period, review="all", batch=2))
    assert len(rows) == 5
    excused = next(row for row in rows if row["id"] == world.clocks["T4.fr"].id)
    assert excused["decision"] == "excused"
    assert excused["reason"] == "Storing bij de provider"
    assert excused["name"] == world.supervisor.name
    assert breach_reviews.explain_clock(excused, AMSTERDAM)[-1].startswith("breached Fri 27 Feb")


# --- repeat contacts ----------------------------------------------------------------------------


def test_repeat_customers_ranked_with_links(world):
    customers = reports.repeat_customers(world.period)
    assert [(c.name, c.repeat_contacts, c.tickets, c.repeat_tickets, c.contacts,
             c.again_mentions) for c in customers] == [
        ("Anna", 2, 2, 1, 4, 2),
        ("Bram", 1, 2, 1, 3, 1),
    ]
    assert [link.reference for link in customers[0].links] == [world.tickets["T2"].reference]
    streamed = list(reports.iter_repeat_customers(world.period))
    assert [(row[0], row[4], row[6]) for row in streamed] == [
        (world.customers["Anna"].id, 2, "Anna"), (world.customers["Bram"].id, 1, "Bram")
    ]


def test_repeat_topics_merge_reply_prefixes(world):
    topics = reports.repeat_topics(world.period)
    assert [(t.source, t.topic, t.tickets, t.repeat_tickets, t.repeat_contacts)
            for t in topics] == [
        ("subject", "factuur klopt niet", 2, 2, 3),
        ("tag", "invoice", 1, 1, 2),
        ("category", "billing", 1, 1, 1),
    ]


def test_again_cue_words_counted_from_inbound_messages(world):
    cues = reports.again_cue_words(world.period)
    assert [(w.match, w.kind, w.mentions, w.tickets) for w in cues.words] == [
        ("alweer", "again", 2, 2),
        ("nog steeds", "still", 1, 1),
    ]
    assert cues.words[0].links == sorted([world.tickets["T2"].id, world.tickets["T3"].id],
                                         reverse=True)
    assert (cues.messages_read, cues.truncated) == (3, False)
    bounded = reports.again_cue_words(world.period, max_messages=2)
    assert (bounded.messages_read, bounded.truncated) == (2, True)


def test_repeat_channels_and_tickets(world):
    assert reports.repeat_channels(world.period) == [
        reports.RepeatChannel("sms", 2), reports.RepeatChannel("email", 1),
        reports.RepeatChannel("web", 1),
    ]
    team_b = reports.repeat_channels(replace(world.period, team_id=world.team_b))
    assert team_b == [reports.RepeatChannel("web", 1)]
    tickets = list(reports.iter_repeat_tickets(world.period))
    assert [(t["reference"], t["repeat_contacts"], t["status"]) for t in tickets] == [
        (world.tickets["T2"].reference, 2, "solved"),
        (world.tickets["T3"].reference, 1, "open"),
    ]


def test_normalise_subject():
    assert reports.normalise_subject("RE: Fwd:  Factuur   Klopt niet ") == "factuur klopt niet"
    assert reports.normalise_subject("Antw: AW: levering") == "levering"
    assert reports.normalise_subject("Reclame") == "reclame"


# --- breach reviews -----------------------------------------------------------------------------


def _review_events(db_session, clock):
    events = db_session.scalars(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == clock.ticket_id, TicketEvent.type == "breach.reviewed")
        .order_by(TicketEvent.id)
    )
    return [e for e in events if e.data.get("clock_id") == clock.id]


def test_changing_a_review_keeps_the_history(db_session, world):
    clock = world.clocks["T4.fr"]
    later = NOW + timedelta(hours=1)
    review = review_breach(clock, action="acknowledge", text="Toch niet de provider",
                           reviewer=world.supervisor, now=later)
    assert (review.decision, review.reason, review.reviewed_at) == (
        "acknowledged", "Toch niet de provider", later
    )
    review = review_breach(clock, action="annotate", text="Besproken in teamoverleg",
                           reviewer=world.supervisor, now=later)
    assert (review.decision, review.reason, review.note) == (
        "acknowledged", "Toch niet de provider", "Besproken in teamoverleg"
    )
    events = _review_events(db_session, clock)
    assert [(e.data["action"], e.data["decision"], e.data.get("previous_decision"))
            for e in events] == [
        ("excuse", "excused", None),
        ("acknowledge", "acknowledged", "excused"),
        ("annotate", "acknowledged", "acknowledged"),
    ]
    assert events[1].data["previous_reason"] == "Storing bij de provider"
    assert db_session.scalar(
        sa.select(sa.func.count(BreachReview.id)).where(BreachReview.clock_id == clock.id)
    ) == 1
    history = breach_reviews.review_history([clock])
    assert [e.id for e in history[clock.id]] == [e.id for e in events]


def test_withdrawn_excuse_leaves_the_adjusted_rate(db_session, world):
    review_breach(world.clocks["T4.fr"], action="acknowledge", text="Toch onze fout",
                  reviewer=world.supervisor, now=NOW)
    first = reports.hit_rates(world.period)[0]
    assert (first.excused, first.adjusted_rate) == (0, 0.6)


@pytest.mark.parametrize(
    ("clock_name", "action", "text", "message"),
    [
        ("T1.fr", "excuse", "reden", "only a breached clock"),
        ("T6.fr", "excuse", "  ", "needs a reason"),
        ("T6.fr", "annotate", "", "needs a reason"),
        ("T6.fr", "delete", "weg ermee", "unknown review action"),
        ("T4.fr", "acknowledge", "", "why the excuse is withdrawn"),
        ("T6.fr", "excuse", "x" * 2001, "under 2000"),
    ],
)
def test_review_refuses(world, clock_name, action, text, message):
    with pytest.raises(BreachReviewError, match=message):
        review_breach(world.clocks[clock_name], action=action, text=text,
                      reviewer=world.supervisor, now=NOW)


def test_only_supervisors_review(db_session, world):
    agent = db_session.get(User, world.agent_1)
    with pytest.raises(PermissionError):
        review_breach(world.clocks["T6.fr"], action="acknowledge", text="", reviewer=agent,
                      now=NOW)


def test_acknowledgement_without_words_is_allowed(world):
    review = review_breach(world.clocks["T6.fr"], action="acknowledge", text="",
                           reviewer=world.supervisor, now=NOW)
    assert (review.decision, review.reason) == ("acknowledged", "")


def test_stored_clock_explains_itself(world):
    sentences = breach_reviews.explain_clock(world.clocks["T2.nr2"], AMSTERDAM)
    assert sentences == [
        "started Wed 25 Feb 09:00",
        "stopped Wed 25 Feb 09:45 by an agent reply",
        "breached Wed 25 Feb 09:30 (target 30 m)",
    ]
