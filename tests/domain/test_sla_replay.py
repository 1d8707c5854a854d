"""`flask sla replay`: policy file plus JSON-lines events in, the report JSON out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from ticketing.cli.sla_replay import parse_event_lines, parse_instant, replay, replay_command

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
DESIGN_POLICY = {
    "calendar": {
        "timezone": "Europe/Amsterdam",
        "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS},
        "holidays": {"country": "NL", "dates": ["2026-12-24"]},
    },
    "targets": {
        "normal": {"first_response": 240, "next_response": 480, "resolution": 2880},
        "high": {"first_response": 60, "next_response": 120, "resolution": 960},
    },
    "pause_statuses": ["pending"],
    "warn_ratio": 0.75,
}


def lines(*events: dict) -> list[str]:
    return [json.dumps(item) for item in events]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def policy_with(calendar: dict, **targets: int) -> dict:
    return {"calendar": calendar, "targets": {"normal": targets or {"first_response": 120}}}


def only_clock(result: dict) -> dict:
    assert len(result["clocks"]) == 1
    return result["clocks"][0]


def test_full_report_for_the_design_policy():
    events = lines(
        {"at": "2026-01-05T08:12:00Z", "type": "customer_message"},
        {"at": "2026-01-05T10:00:00Z", "type": "agent_reply"},
        {"at": "2026-01-05T10:00:00Z", "type": "status", "status": "pending"},
        {"at": "2026-01-06T10:00:00Z", "type": "customer_message"},
    )
    assert replay(DESIGN_POLICY, events, utc("2026-01-07 12:00")) == {
        "clocks": [
            {
                "metric": "first_response",
                "cycle": 1,
                "state": "met",
                "started_at": "2026-01-05T08:12:00Z",
                "due_at": "2026-01-05T12:12:00Z",
                "stopped_at": "2026-01-05T10:00:00Z",
                "breached_at": None,
                "elapsed_seconds": 6480,
                "paused_seconds": 0,
                "target_seconds": 14400,
            },
            {
                "metric": "next_response",
                "cycle": 1,
                "state": "breached",
                "started_at": "2026-01-06T10:00:00Z",
                "due_at": "2026-01-07T10:00:00Z",
                "stopped_at": None,
                "breached_at": "2026-01-07T10:00:00Z",
                "elapsed_seconds": 36000,
                "paused_seconds": 0,
                "target_seconds": 28800,
            },
            {
                "metric": "resolution",
                "cycle": 1,
                "state": "running",
                "started_at": "2026-01-05T08:12:00Z",
                "due_at": "2026-01-14T08:12:00Z",
                "stopped_at": None,
                "breached_at": None,
                "elapsed_seconds": 42480,
                "paused_seconds": 28800,
                "target_seconds": 172800,
            },
        ],
        "next_due_at": "2026-01-07T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("calendar", "opened", "due"),
    [
        # 24/7: business time is real time, weekends and nights included.
        ({"24/7": True}, "2026-01-10T23:30:00Z", "2026-01-11T01:30:00Z"),
        # An interval ending "24:00" runs to midnight and continues in the next day's hours.
        (
            {
                "timezone": "UTC",
                "hours": {"mon": [["18:00", "24:00"]], "tue": [["00:00", "02:00"]]},
            },
            "2026-01-05T23:00:00Z",
            "2026-01-06T01:00:00Z",
        ),
        # A missing weekday is closed: only Mondays here.
        (
            {"timezone": "UTC", "hours": {"mon": [["09:00", "17:00"]]}},
            "2026-01-06T10:00:00Z",
            "2026-01-12T11:00:00Z",
        ),
        # Holidays may give only dates: Tuesday 6 January is closed.
        (
            {
                "timezone": "UTC",
                "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS},
                "holidays": {"dates": ["2026-01-06"]},
            },
            "2026-01-05T16:00:00Z",
            "2026-01-07T10:00:00Z",
        ),
        # Country holidays: King's Day, Monday 27 April 2026, is closed in the Netherlands.
        (
            {
                "timezone": "Europe/Amsterdam",
                "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS},
                "holidays": {"country": "NL"},
            },
            "2026-04-24T14:00:00Z",  # Friday 16:00 CEST
            "2026-04-28T08:00:00Z",  # Tuesday 10:00 CEST
        ),
        # Half-hour offset: Kolkata is UTC+05:30, so 09:00-17:00 is 03:30-11:30 UTC.
        (
            {"timezone": "Asia/Kolkata", "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS}},
            "2026-01-05T10:30:00Z",
            "2026-01-06T04:30:00Z",
        ),
    ],
)
def test_calendar_variants(calendar, opened, due):
    events = lines({"at": opened, "type": "customer_message"})
    clock = only_clock(replay(policy_with(calendar), events, utc(opened[:10]) + timedelta(days=1)))
    assert (clock["started_at"], clock["due_at"]) == (opened, due)


def test_priority_at_the_opening_instant_sets_the_targets():
    events = lines(
        {"at": "2026-01-05T09:00:00Z", "type": "customer_message"},
        {"at": "2026-01-05T09:00:00Z", "type": "priority", "priority": "high"},
    )
    result = replay(DESIGN_POLICY, events, utc("2026-01-05 09:00"))
    assert [clock["target_seconds"] for clock in result["clocks"]] == [3600, 57600]


def test_lines_may_be_unsorted_and_blank_lines_are_skipped():
    events = [
        json.dumps({"at": "2026-01-05T10:00:00+01:00", "type": "agent_reply"}),
        "",
        json.dumps({"at": "2026-01-05T08:00:00Z", "type": "customer_message"}),
        "   \n",
    ]
    clock = only_clock(replay(policy_with({"24/7": True}), events, utc("2026-01-05 12:00")))
    assert (clock["state"], clock["elapsed_seconds"]) == ("met", 3600)


def test_empty_event_list_gives_no_clocks():
    assert replay(DESIGN_POLICY, [], utc("2026-01-05 12:00")) == {"clocks": [], "next_due_at": None}


def test_paused_and_solved_ticket():
    events = lines(
        {"at": "2026-01-05T09:00:00Z", "type": "customer_message"},
        {"at": "2026-01-05T10:00:00Z", "type": "note"},
        {"at": "2026-01-05T10:00:00Z", "type": "auto_reply"},
        {"at": "2026-01-05T11:00:00Z", "type": "status", "status": "pending"},
        {"at": "2026-01-05T13:00:00Z", "type": "customer_message"},
        {"at": "2026-01-05T14:00:00Z", "type": "solved"},
    )
    policy = policy_with({"24/7": True}, first_response=60, resolution=600)
    result = replay(policy, events, utc("2026-01-05 15:00"))
    assert result == {
        "clocks": [
            {
                "metric": "first_response",
                "cycle": 1,
                "state": "breached",
                "started_at": "2026-01-05T09:00:00Z",
                "due_at": "2026-01-05T10:00:00Z",
                "stopped_at": "2026-01-05T14:00:00Z",
                "breached_at": "2026-01-05T10:00:00Z",
                "elapsed_seconds": 18000,
                "paused_seconds": 0,
                "target_seconds": 3600,
            },
            {
                "metric": "resolution",
                "cycle": 1,
                "state": "met",
                "started_at": "2026-01-05T09:00:00Z",
                "due_at": "2026-01-05T21:00:00Z",
                "stopped_at": "2026-01-05T14:00:00Z",
                "breached_at": None,
                "elapsed_seconds": 10800,
                "paused_seconds": 7200,
                "target_seconds": 36000,
            },
        ],
        "next_due_at": None,
    }


@pytest.mark.parametrize(
    ("event_lines", "message"),
    [
        (["not json"], "event line 1"),
        (["[1, 2]"], "expected a JSON object"),
        ([json.dumps({"type": "note"})], '"at" and "type"'),
        ([json.dumps({"at": "yesterday", "type": "note"})], "ISO 8601"),
        ([json.dumps({"at": "2026-01-05T09:00:00Z", "type": "call"})], "unknown event type"),
        ([json.dumps({"at": "2026-01-05T09:00:00Z", "type": "status"})], "needs a status"),
        (["", json.dumps({"at": "2026-01-05T09:00:00Z", "type": "status", "status": 3})], "line 2"),
    ],
)
def test_bad_event_lines_are_reported_with_their_number(event_lines, message):
    with pytest.raises(ValueError, match=message):
        parse_event_lines(event_lines)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"targets": {}}, "calendar"),
        ({"calendar": {"24/7": True}}, "targets"),
        (policy_with({"timezone": "UTC", "hours": {}, "holidays": {"country": "ZZ"}}), "ZZ"),
        ([], "JSON object"),
    ],
)
def test_bad_policies_are_refused(policy, message):
    with pytest.raises(ValueError, match=message):
        replay(policy, [], utc("2026-01-05 12:00"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T12:00:00Z", utc("2026-01-05 12:00")),
        ("2026-01-05T13:00:00+01:00", utc("2026-01-05 12:00")),
        ("2026-01-05T12:00:00", utc("2026-01-05 12:00")),  # no offset: taken as UTC
        ("2026-01-05 12:00:00.250000Z", utc("2026-01-05 12:00:00.250000")),
    ],
)
def test_parse_instant(text, expected):
    parsed = parse_instant(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_replay_command_prints_the_report(tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(DESIGN_POLICY), encoding="utf-8")
    events = "\n".join(lines({"at": "2026-01-05T08:12:00Z", "type": "customer_message"}))
    result = CliRunner().invoke(
        replay_command,
        ["--policy", str(policy_file), "--now", "2026-01-05T09:00:00Z"],
        input=events,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report == replay(DESIGN_POLICY, events.splitlines(), utc("2026-01-05 09:00"))
    assert report["next_due_at"] == "2026-01-05T12:12:00Z"


def test_replay_command_explains_bad_input(tmp_path):
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(DESIGN_POLICY), encoding="utf-8")
    result = CliRunner().invoke(
        replay_command, ["--policy", str(policy_file), "--now", "2026-01-05T09:00:00Z"], input="{"
    )
    assert result.exit_code == 1
    assert "event line 1" in result.output
