"""SLA clocks: one test per rule of DESIGN.md "SLA semantics", plus properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticketing.domain.calendar import BusinessCalendar
from ticketing.domain.sla import (
    Clock,
    ClockSegment,
    ClockState,
    Metric,
    SlaEvent,
    SlaPolicy,
    compute_sla,
    describe_clock,
    describe_duration,
    policy_from_spec,
    report_as_json,
)

HOUR = 3600
ALWAYS = BusinessCalendar("UTC", always_open=True)
OFFICE = BusinessCalendar("UTC", {day: ((time(9), time(17)),) for day in range(5)})
AMSTERDAM_OFFICE = BusinessCalendar(
    "Europe/Amsterdam", {day: ((time(9), time(17)),) for day in range(5)}
)
POLICY = SlaPolicy(
    targets={
        "normal": {"first_response": 60, "next_response": 120, "resolution": 480},
        "high": {"first_response": 30, "next_response": 60, "resolution": 240},
        "low": {"resolution": 960},  # no reply clocks at low priority
    }
)
SHORT_RESOLUTION = SlaPolicy(targets={"normal": {"resolution": 60}})
PENDING_OR_ON_HOLD = SlaPolicy(
    targets=POLICY.targets, pause_statuses=frozenset({"pending", "on_hold"})
)


def utc(text: str) -> datetime:
    """Return a UTC instant; a bare "09:00" is on Monday 2026-01-05."""
    if len(text) <= 8:
        text = f"2026-01-05 {text}"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(when: str, kind: str, **fields: str) -> SlaEvent:
    return SlaEvent(at=utc(when), type=kind, **fields)


def customer(when: str) -> SlaEvent:
    return event(when, "customer_message")


def reply(when: str) -> SlaEvent:
    return event(when, "agent_reply")


def status(when: str, name: str) -> SlaEvent:
    return event(when, "status", status=name)


def priority(when: str, name: str) -> SlaEvent:
    return event(when, "priority", priority=name)


def clocks_at(
    now: str, events: list[SlaEvent], *, calendar=ALWAYS, policy=POLICY, **options
) -> dict[tuple[str, int], Clock]:
    report = compute_sla(events, policy, calendar, utc(now), **options)
    return {(clock.metric.value, clock.cycle): clock for clock in report.clocks}


def first_response(now: str, events: list[SlaEvent], **options) -> Clock:
    return clocks_at(now, events, **options)[("first_response", 1)]


def resolution(now: str, events: list[SlaEvent], **options) -> Clock:
    return clocks_at(now, events, **options)[("resolution", 1)]


# -- first response ----------------------------------------------------------------------------


def test_first_response_runs_from_first_customer_message_to_first_agent_reply():
    clock = first_response("12:00", [customer("09:00"), customer("09:20"), reply("09:40")])
    assert (clock.state, clock.started_at, clock.stopped_at) == (
        ClockState.met,
        utc("09:00"),
        utc("09:40"),
    )
    assert (clock.elapsed_seconds, clock.target_seconds, clock.due_at) == (
        40 * 60,
        HOUR,
        utc("10:00"),
    )


@pytest.mark.parametrize("kind", ["note", "auto_reply"])
def test_first_response_ignores_notes_and_automatic_replies(kind):
    clock = first_response("09:30", [customer("09:00"), event("09:10", kind)])
    assert (clock.state, clock.stopped_at, clock.elapsed_seconds) == (
        ClockState.running,
        None,
        30 * 60,
    )


def test_agent_reply_before_the_ticket_opens_answers_nothing():
    clocks = clocks_at("09:40", [reply("08:00"), customer("09:00"), customer("09:30")])
    assert clocks[("first_response", 1)].state is ClockState.running
    assert ("next_response", 1) not in clocks


# -- next response -----------------------------------------------------------------------------


def test_next_response_cycles_start_at_first_customer_message_after_a_reply():
    events = [
        customer("09:00"),
        reply("09:10"),
        customer("10:00"),
        customer("10:30"),  # still waiting for the same answer: no new cycle
        reply("11:00"),
        customer("12:00"),
    ]
    clocks = clocks_at("12:30", events)
    first, second = clocks[("next_response", 1)], clocks[("next_response", 2)]
    assert (first.started_at, first.stopped_at, first.due_at, first.state) == (
        utc("10:00"),
        utc("11:00"),
        utc("12:00"),
        ClockState.met,
    )
    assert (second.started_at, second.due_at, second.state) == (
        utc("12:00"),
        utc("14:00"),
        ClockState.running,
    )
    assert ("next_response", 3) not in clocks


@pytest.mark.parametrize(
    ("events", "expect_cycle"),
    [
        ([customer("09:00"), reply("10:00"), customer("10:00")], True),
        ([customer("09:00"), customer("10:00"), reply("10:00")], False),
    ],
)
def test_events_at_the_same_instant_keep_their_order(events, expect_cycle):
    assert (("next_response", 1) in clocks_at("10:30", events)) is expect_cycle


def test_events_are_sorted_by_time_first():
    clock = first_response("12:00", [reply("09:30"), customer("09:00")])
    assert (clock.state, clock.stopped_at) == (ClockState.met, utc("09:30"))


# -- resolution and pauses ---------------------------------------------------------------------


def test_resolution_pauses_while_pending_and_resumes_with_time_used():
    events = [customer("09:00"), status("10:00", "pending"), status("12:00", "open")]
    clock = resolution("13:00", events)
    assert (clock.state, clock.elapsed_seconds, clock.paused_seconds) == (
        ClockState.running,
        2 * HOUR,
        2 * HOUR,
    )
    assert clock.due_at == utc("19:00")  # 8 h target plus the 2 h pause
    assert clock.segments == (
        ClockSegment("start", utc("09:00")),
        ClockSegment("pause", utc("10:00"), "pending"),
        ClockSegment("resume", utc("12:00"), "open"),
    )


def test_paused_clock_has_no_due_at():
    clock = resolution("11:00", [customer("09:00"), status("10:00", "pending")])
    assert (clock.state, clock.due_at, clock.elapsed_seconds, clock.paused_seconds) == (
        ClockState.paused,
        None,
        HOUR,
        HOUR,
    )


def test_reply_clocks_never_pause():
    clock = first_response("10:30", [customer("09:00"), status("09:10", "pending")])
    assert (clock.state, clock.breached_at) == (ClockState.breached, utc("10:00"))


@pytest.mark.parametrize("paused_status", ["pending", "on_hold"])
def test_customer_message_takes_ticket_out_of_a_waiting_status(paused_status):
    events = [customer("09:00"), status("10:00", paused_status), customer("11:00")]
    clock = resolution("12:00", events, policy=PENDING_OR_ON_HOLD)
    assert (clock.state, clock.paused_seconds) == (ClockState.running, HOUR)
    assert clock.segments[-1] == ClockSegment("resume", utc("11:00"), "open")


def test_only_pause_statuses_pause():
    clock = resolution("12:00", [customer("09:00"), status("10:00", "on_hold")])
    assert (clock.state, clock.paused_seconds) == (ClockState.running, 0)


def test_paused_then_solved_clock_keeps_the_due_at_it_would_have_had():
    events = [customer("09:00"), status("10:00", "pending"), event("12:00", "solved")]
    clock = resolution("13:00", events)
    assert (clock.state, clock.stopped_at, clock.paused_seconds) == (
        ClockState.met,
        utc("12:00"),
        2 * HOUR,
    )
    assert clock.due_at == utc("19:00")  # 7 h of target left, counted from the stop


# -- business hours ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened", "now", "elapsed", "due"),
    [
        ("2026-01-05 07:00", "2026-01-05 09:30", 30 * 60, "2026-01-05 10:00"),  # before opening
        ("2026-01-05 16:30", "2026-01-06 09:30", HOUR, "2026-01-06 09:30"),  # near closing
        ("2026-01-10 12:00", "2026-01-12 09:15", 15 * 60, "2026-01-12 10:00"),  # Saturday
    ],
)
def test_clock_started_out_of_hours_counts_from_the_next_opening(opened, now, elapsed, due):
    clock = first_response(now, [customer(opened)], calendar=OFFICE)
    assert (clock.started_at, clock.elapsed_seconds, clock.due_at) == (
        utc(opened),
        elapsed,
        utc(due),
    )


def test_business_hours_follow_the_calendar_timezone_across_dst():
    # Friday 16:00 CET; the clocks go forward on Sunday; due Monday 10:00 CEST.
    clock = first_response(
        "2026-03-30 07:15",
        [customer("2026-03-27 15:00")],
        calendar=AMSTERDAM_OFFICE,
        policy=SlaPolicy({"normal": {"first_response": 120}}),
    )
    assert (clock.due_at, clock.elapsed_seconds, clock.state) == (
        utc("2026-03-30 08:00"),
        HOUR + 15 * 60,
        ClockState.running,
    )


# -- priority ----------------------------------------------------------------------------------


def test_priority_change_retargets_running_clocks_from_their_original_start():
    clocks = clocks_at("09:20", [customer("09:00"), priority("09:10", "high")])
    response, work = clocks[("first_response", 1)], clocks[("resolution", 1)]
    assert (response.target_seconds, response.due_at, response.priority) == (
        30 * 60,
        utc("09:30"),
        "high",
    )
    assert work.due_at == utc("13:00")
    assert response.segments[-1] == ClockSegment("retarget", utc("09:10"), "priority high")


def test_priority_raise_past_the_new_target_breaches_at_the_new_due_at():
    clock = first_response("10:00", [customer("09:00"), priority("09:45", "high")])
    assert (clock.state, clock.breached_at, clock.due_at) == (
        ClockState.breached,
        utc("09:30"),
        utc("09:30"),
    )


@pytest.mark.parametrize(
    "events",
    [
        [customer("09:00"), priority("09:00", "high")],
        [priority("09:00", "high"), customer("09:00")],
        [customer("09:00"), priority("09:00", "low"), priority("09:00", "high")],
    ],
)
def test_ticket_opens_with_the_priority_given_at_the_same_instant(events):
    clock = first_response("09:10", events)
    assert (clock.priority, clock.target_seconds) == ("high", 30 * 60)
    assert [segment.kind for segment in clock.segments] == ["start"]


def test_initial_priority_can_be_given():
    clock = first_response("09:10", [customer("09:00")], initial_priority="high")
    assert clock.target_seconds == 30 * 60


def test_metric_without_a_target_has_no_clock():
    clocks = clocks_at("09:10", [customer("09:00")], initial_priority="low")
    assert list(clocks) == [("resolution", 1)]


def test_priority_without_the_metric_drops_a_running_clock():
    clocks = clocks_at("09:30", [customer("09:00"), priority("09:10", "low")])
    assert list(clocks) == [("resolution", 1)]
    assert clocks[("resolution", 1)].target_seconds == 16 * HOUR


def test_priority_change_while_solved_applies_when_reopened():
    events = [
        customer("09:00"),
        event("10:00", "solved"),
        priority("10:30", "high"),
        event("11:00", "reopened"),
    ]
    clock = resolution("11:30", events)
    assert (clock.target_seconds, clock.due_at, clock.priority) == (4 * HOUR, utc("14:00"), "high")
    assert [segment.kind for segment in clock.segments] == ["start", "stop", "resume", "retarget"]


# -- solving and reopening ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "solving", [event("09:30", "solved"), status("09:30", "solved"), status("09:30", "closed")]
)
def test_solving_stops_every_running_clock(solving):
    events = [customer("09:00"), reply("09:10"), customer("09:20"), solving]
    clocks = clocks_at("12:00", events)
    assert {key: clock.state for key, clock in clocks.items()} == {
        ("first_response", 1): ClockState.met,
        ("next_response", 1): ClockState.met,
        ("resolution", 1): ClockState.met,
    }
    assert clocks[("resolution", 1)].stopped_at == utc("09:30")
    assert clocks[("resolution", 1)].elapsed_seconds == 30 * 60


@pytest.mark.parametrize(
    ("replied_at", "state", "breached_at"),
    [
        ("10:00:00", ClockState.met, None),  # at due_at: met
        ("10:00:01", ClockState.breached, utc("10:00")),  # after due_at: breached
    ],
)
def test_clock_stopping_at_due_at_is_met_and_after_it_breached(replied_at, state, breached_at):
    clock = first_response("12:00", [customer("09:00"), reply(replied_at)])
    assert (clock.state, clock.breached_at, clock.due_at) == (state, breached_at, utc("10:00"))


def test_stopped_clock_keeps_its_due_at():
    clock = first_response("2026-01-09 12:00", [customer("09:00"), reply("09:15")])
    assert clock.due_at == utc("10:00")


def test_customer_message_reopens_a_solved_ticket():
    events = [customer("09:00"), reply("09:30"), event("10:00", "solved"), customer("12:00")]
    clocks = clocks_at("13:00", events)
    work = clocks[("resolution", 1)]
    assert (work.state, work.elapsed_seconds, work.paused_seconds, work.stopped_at) == (
        ClockState.running,
        2 * HOUR,
        0,  # time spent solved is neither counted nor paused
        None,
    )
    assert work.due_at == utc("19:00")
    assert work.segments[-1] == ClockSegment("resume", utc("12:00"), "reopened")
    assert clocks[("next_response", 1)].started_at == utc("12:00")


@pytest.mark.parametrize(
    ("reopening", "state", "elapsed"),
    [
        (status("11:00", "open"), ClockState.running, 2 * HOUR),
        (status("11:00", "new"), ClockState.running, 2 * HOUR),
        (event("11:00", "reopened"), ClockState.running, 2 * HOUR),
        (status("11:00", "pending"), ClockState.paused, HOUR),  # reopened straight into a pause
    ],
)
def test_moving_a_solved_ticket_to_an_open_status_reopens_it(reopening, state, elapsed):
    clock = resolution("12:00", [customer("09:00"), event("10:00", "solved"), reopening])
    assert (clock.state, clock.elapsed_seconds) == (state, elapsed)


def test_reopened_event_on_an_open_ticket_changes_nothing():
    clock = resolution("10:00", [customer("09:00"), event("09:30", "reopened")])
    assert [segment.kind for segment in clock.segments] == ["start"]


# -- breaches and warnings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "after_breach",
    [
        [status("10:30", "pending")],
        [event("10:30", "solved")],
        [event("10:30", "solved"), event("10:40", "reopened")],
        [priority("10:30", "low")],
    ],
)
def test_a_breach_is_final(after_breach):
    clock = resolution("11:00", [customer("09:00"), *after_breach], policy=SHORT_RESOLUTION)
    assert (clock.state, clock.breached_at, clock.due_at, clock.target_seconds) == (
        ClockState.breached,
        utc("10:00"),
        utc("10:00"),
        HOUR,
    )


def test_breached_clock_keeps_counting_while_running():
    clock = first_response("11:00", [customer("09:00")])
    assert (clock.state, clock.elapsed_seconds) == (ClockState.breached, 2 * HOUR)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        ("09:44:59", ClockState.running),
        ("09:45:00", ClockState.at_risk),  # 45 of 60 minutes is the 0.75 warning ratio
        ("10:00:00", ClockState.at_risk),
        ("10:00:01", ClockState.breached),
    ],
)
def test_clock_is_at_risk_from_the_warning_ratio(now, state):
    assert first_response(now, [customer("09:00")]).state is state


def test_warning_ratio_comes_from_the_policy():
    policy = SlaPolicy(targets=POLICY.targets, warn_ratio=0.5)
    assert first_response("09:30", [customer("09:00")], policy=policy).state is ClockState.at_risk


# -- next_due_at and the evaluation instant ----------------------------------------------------


@pytest.mark.parametrize(
    ("now", "events", "expected"),
    [
        ("09:10", [customer("09:00")], utc("10:00")),
        ("10:30", [customer("09:00")], utc("10:00")),  # a running breached clock counts
        ("09:30", [customer("09:00"), reply("09:10"), status("09:20", "pending")], None),
        ("09:30", [customer("09:00"), event("09:10", "solved")], None),
        ("09:30", [customer("09:00"), reply("09:10")], utc("17:00")),
        ("09:30", [], None),
    ],
)
def test_next_due_at_is_the_earliest_running_deadline(now, events, expected):
    assert compute_sla(events, POLICY, ALWAYS, utc(now)).next_due_at == expected


def test_events_after_now_have_not_happened_yet():
    clock = first_response("10:30", [customer("09:00"), reply("11:00")])
    assert (clock.state, clock.stopped_at) == (ClockState.breached, None)


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"at": datetime(2026, 1, 5, 9), "type": "customer_message"}, "timezone-aware"),
        ({"at": utc("09:00"), "type": "phone_call"}, "unknown event type"),
        ({"at": utc("09:00"), "type": "status"}, "needs a status"),
        ({"at": utc("09:00"), "type": "priority"}, "needs a priority"),
    ],
)
def test_invalid_events_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        SlaEvent(**fields)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"targets": {"normal": {"first_reply": 60}}}, "unknown SLA metric"),
        ({"targets": {"normal": {"resolution": -1}}}, "minutes >= 0"),
        ({"targets": {"normal": {"resolution": True}}}, "minutes >= 0"),
        ({"targets": {}, "pause_statuses": frozenset({"solved"})}, "cannot be pause"),
        ({"targets": {}, "warn_ratio": 0}, "warn_ratio"),
        ({"targets": {}, "warn_ratio": 1.5}, "warn_ratio"),
    ],
)
def test_invalid_policies_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        SlaPolicy(**arguments)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_sla([], POLICY, ALWAYS, datetime(2026, 1, 5, 9))


def test_policy_from_spec_reads_targets_pause_statuses_and_warn_ratio():
    policy = policy_from_spec(
        {
            "calendar": {"24/7": True},
            "targets": {"urgent": {"first_response": 15}},
            "pause_statuses": ["pending", "on_hold"],
            "warn_ratio": 0.5,
        }
    )
    assert policy.targets == {"urgent": {"first_response": 15}}
    assert policy.pause_statuses == {"pending", "on_hold"}
    assert policy.warn_ratio == 0.5


def test_policy_from_spec_has_defaults():
    policy = policy_from_spec({"targets": {"normal": {"resolution": 60}}})
    assert (policy.pause_statuses, policy.warn_ratio) == (frozenset({"pending"}), 0.75)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "targets"),
        ({"targets": {"normal": 60}}, "targets"),
        ({"targets": {}, "pause_statuses": "pending"}, "pause_statuses"),
        ({"targets": {}, "warn_ratio": "high"}, "warn_ratio"),
    ],
)
def test_policy_from_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        policy_from_spec(spec)


# -- output ------------------------------------------------------------------------------------


def test_report_as_json_uses_the_replay_format():
    report = compute_sla([customer("09:00"), reply("09:40")], POLICY, OFFICE, utc("12:00"))
    assert report_as_json(report) == {
        "clocks": [
            {
                "metric": "first_response",
                "cycle": 1,
                "state": "met",
                "started_at": "2026-01-05T09:00:00Z",
                "due_at": "2026-01-05T10:00:00Z",
                "stopped_at": "2026-01-05T09:40:00Z",
                "breached_at": None,
                "elapsed_seconds": 2400,
                "paused_seconds": 0,
                "target_seconds": 3600,
            },
            {
                "metric": "resolution",
                "cycle": 1,
                "state": "running",
                "started_at": "2026-01-05T09:00:00Z",
                "due_at": "2026-01-05T17:00:00Z",
                "stopped_at": None,
                "breached_at": None,
                "elapsed_seconds": 10800,
                "paused_seconds": 0,
                "target_seconds": 28800,
            },
        ],
        "next_due_at": "2026-01-05T17:00:00Z",
    }


def test_clocks_are_ordered_by_metric_then_cycle():
    events = [
        customer("09:00"),
        reply("09:10"),
        customer("09:20"),
        reply("09:30"),
        customer("09:40"),
    ]
    report = compute_sla(events, POLICY, ALWAYS, utc("10:00"))
    assert [(clock.metric, clock.cycle) for clock in report.clocks] == [
        (Metric.first_response, 1),
        (Metric.next_response, 1),
        (Metric.next_response, 2),
        (Metric.resolution, 1),
    ]


# -- explanation -------------------------------------------------------------------------------


def test_describe_clock_tells_the_story_in_local_time():
    events = [
        customer("2026-01-05 08:12"),  # 09:12 in Amsterdam
        status("2026-01-05 09:00", "pending"),
        status("2026-01-05 15:10", "open"),
        reply("2026-01-06 08:40"),
        event("2026-01-06 10:00", "solved"),
    ]
    policy = SlaPolicy({"normal": {"first_response": 240, "resolution": 960}})
    clocks = clocks_at("2026-01-07 12:00", events, calendar=AMSTERDAM_OFFICE, policy=policy)
    assert describe_clock(clocks[("resolution", 1)], "Europe/Amsterdam") == [
        "started Mon 5 Jan 09:12",
        "paused Mon 5 Jan 10:00 while pending",
        "resumed Mon 5 Jan 16:10 after 6 h 10 m paused",
        "stopped Tue 6 Jan 11:00 by solving",
        "paused 6 h 10 m of business time in all",
        "met with 12 h 22 m to spare (3 h 38 m used of 16 h)",
    ]
    assert describe_clock(clocks[("first_response", 1)], "Europe/Amsterdam") == [
        "started Mon 5 Jan 09:12",
        "stopped Tue 6 Jan 09:40 by an agent reply",
        "breached Mon 5 Jan 13:12 (target 4 h)",
    ]


@pytest.mark.parametrize(
    ("now", "events", "last_sentence"),
    [
        ("09:50", [customer("09:00")], "at risk: 50 m used of 1 h, due Mon 5 Jan 10:00"),
        ("09:10", [customer("09:00")], "running: 10 m used of 1 h, due Mon 5 Jan 10:00"),
    ],
)
def test_describe_clock_ends_with_where_it_stands(now, events, last_sentence):
    clock = first_response(now, events)
    assert describe_clock(clock, "UTC")[-1] == last_sentence


def test_describe_paused_and_retargeted_clock():
    events = [customer("09:00"), priority("09:30", "high"), status("10:00", "on_hold")]
    clock = resolution("11:00", events, policy=PENDING_OR_ON_HOLD)
    assert describe_clock(clock, "UTC") == [
        "started Mon 5 Jan 09:00",
        "re-targeted Mon 5 Jan 09:30 for priority high",
        "paused Mon 5 Jan 10:00 while on hold",
        "paused 1 h of business time in all",
        "paused now with 1 h used of 4 h; no deadline while paused",
    ]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (59, "59 s"), (60, "1 m"), (3600, "1 h"), (3900, "1 h 5 m"), (90061, "25 h 1 m")],
)
def test_describe_duration(seconds, words):
    assert describe_duration(seconds) == words


# -- properties ----------------------------------------------------------------------------------

EPOCH = datetime(2026, 3, 23, tzinfo=UTC)  # two weeks around a DST change in Amsterdam
EVENT_TYPES = ["customer_message", "agent_reply", "note", "auto_reply", "solved", "reopened"]
STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
PRIORITIES = ["low", "normal", "high", "urgent"]  # "urgent" has no targets at all
CALENDARS = [ALWAYS, OFFICE, AMSTERDAM_OFFICE]
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def sla_events(draw):
    minute = draw(st.integers(0, 14 * 24 * 60))
    at = EPOCH + timedelta(minutes=minute)
    kind = draw(st.sampled_from([*EVENT_TYPES, "status", "priority", "customer_message"]))
    if kind == "status":
        return SlaEvent(at, kind, status=draw(st.sampled_from(STATUSES)))
    if kind == "priority":
        return SlaEvent(at, kind, priority=draw(st.sampled_from(PRIORITIES)))
    return SlaEvent(at, kind)


histories = st.lists(sla_events(), max_size=14)
calendars = st.sampled_from(CALENDARS)
nows = st.integers(0, 16 * 24 * 60).map(lambda minute: EPOCH + timedelta(minutes=minute))


@PROPERTY_SETTINGS
@given(events=histories, calendar=calendars, now=nows)
def test_every_clock_is_consistent_with_its_state(events, calendar, now):
    report = compute_sla(events, POLICY, calendar, now)
    for clock in report.clocks:
        assert clock.elapsed_seconds >= 0
        assert clock.paused_seconds >= 0
        assert clock.started_at <= now
        assert (clock.state is ClockState.breached) == (clock.breached_at is not None)
        if clock.state is ClockState.breached:
            assert clock.due_at == clock.breached_at
        if clock.state is ClockState.met:
            assert clock.stopped_at is not None
            assert clock.stopped_at <= clock.due_at
        if clock.state is ClockState.paused:
            assert clock.due_at is None
            assert clock.metric is Metric.resolution
        if clock.state in (ClockState.running, ClockState.at_risk):
            assert clock.due_at >= now
            assert clock.elapsed_seconds <= clock.target_seconds
        if clock.metric is not Metric.resolution:
            assert clock.paused_seconds == 0
            assert "pause" not in {segment.kind for segment in clock.segments}
        span = calendar.business_seconds_between(clock.started_at, now)
        assert clock.elapsed_seconds + clock.paused_seconds <= span + 1


@PROPERTY_SETTINGS
@given(events=histories, calendar=calendars, now=nows)
def test_next_due_at_is_the_earliest_deadline_of_running_clocks(events, calendar, now):
    report = compute_sla(events, POLICY, calendar, now)
    running = [
        clock.due_at
        for clock in report.clocks
        if clock.stopped_at is None
        and clock.state is not ClockState.paused
        and (clock.state is not ClockState.breached or clock.segments[-1].kind != "pause")
    ]
    assert report.next_due_at == min(running, default=None)


@PROPERTY_SETTINGS
@given(events=histories, calendar=calendars, now=nows)
def test_cycles_are_numbered_from_one(events, calendar, now):
    report = compute_sla(events, POLICY, calendar, now)
    priority_changed = any(item.type == "priority" for item in events)
    for metric in Metric:
        cycles = [clock.cycle for clock in report.clocks if clock.metric is metric]
        assert cycles == sorted(set(cycles))
        if not priority_changed:
            # Cycles count customer turns, so a turn without a target (at "low") leaves a gap.
            assert cycles == list(range(1, len(cycles) + 1))
        if metric is not Metric.next_response:
            assert set(cycles) <= {1}


@PROPERTY_SETTINGS
@given(events=histories, calendar=calendars, now=nows, later=st.integers(1, 3 * 24 * 60))
def test_breaches_are_final_and_time_only_accumulates(events, calendar, now, later):
    before = compute_sla(events, POLICY, calendar, now)
    after = compute_sla(events, POLICY, calendar, now + timedelta(minutes=later))
    after_by_key = {(clock.metric, clock.cycle): clock for clock in after.clocks}
    for clock in before.clocks:
        future = after_by_key.get((clock.metric, clock.cycle))
        if future is None:
            # Only a later change to a priority without this metric removes a clock.
            assert clock.state is not ClockState.breached
            continue
        assert future.elapsed_seconds >= clock.elapsed_seconds
        assert future.paused_seconds >= clock.paused_seconds
        if clock.state is ClockState.breached:
            assert (future.state, future.breached_at) == (ClockState.breached, clock.breached_at)


@PROPERTY_SETTINGS
@given(events=histories, calendar=calendars, now=nows, seed=st.integers(0, 2**16))
def test_input_order_only_matters_within_an_instant(events, calendar, now, seed):
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    # Restore the original order among events sharing an instant (the stable-sort rule).
    position = {id(item): index for index, item in enumerate(events)}
    shuffled.sort(key=lambda item: (item.at, position[id(item)]))
    expected = compute_sla(events, POLICY, calendar, now)
    assert compute_sla(shuffled, POLICY, calendar, now) == expected


def test_cycles_count_customer_turns_even_without_a_target():
    events = [
        customer("09:00"),
        priority("09:00", "low"),
        reply("09:10"),  # low has no next_response target: cycle 1 is not reported
        customer("09:20"),
        priority("09:30", "high"),  # retargeted from its start: now reported
        reply("09:40"),
        customer("09:50"),
    ]
    clocks = clocks_at("10:00", events)
    assert clocks[("next_response", 1)].started_at == utc("09:20")
    assert clocks[("next_response", 1)].state is ClockState.met
    assert clocks[("next_response", 2)].started_at == utc("09:50")


def test_policies_with_equal_settings_are_equal_and_hash_alike():
    copy = SlaPolicy(
        targets={priority: dict(metrics) for priority, metrics in POLICY.targets.items()}
    )
    assert copy == POLICY
    assert hash(copy) == hash(POLICY)
