"""The escalation evaluator: conditions, matching, parsing and the sweep's time anchors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.domain.escalation import (
    FIELDS,
    Anchor,
    ClockFacts,
    Condition,
    RuleInvalid,
    RuleSpec,
    TicketFacts,
    check_condition,
    default_rules,
    describe_action,
    describe_condition,
    evaluate,
    parse_action,
    parse_condition,
    parse_rule,
    ticket_sla_state,
    time_anchors,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """An instant relative to NOW."""
    return NOW + timedelta(minutes=minutes)


def clock(metric: str, *, state: str = "running", running: bool = True, due: float | None = None,
          warn: float | None = None, breached: float | None = None, cycle: int = 1) -> ClockFacts:
    return ClockFacts(
        metric=metric,
        cycle=cycle,
        state=state,
        is_running=running,
        due_at=at(due) if due is not None else None,
        warn_at=at(warn) if warn is not None else None,
        breached_at=at(breached) if breached is not None else None,
    )


BASE = TicketFacts(
    ticket_id=1,
    status="open",
    priority="normal",
    channel="email",
    team_id=3,
    team_name="Billing",
    assignee_id=None,
    tags=frozenset({"vip", "invoice"}),
    customer_tags=frozenset({"key-account"}),
    clocks=(
        clock("first_response", due=20, warn=-5),
        clock("resolution", due=600, warn=450),
    ),
    next_due_at=at(20),
    repeat_contacts=1,
    again_mentions=0,
    escalation_level=0,
    last_customer_message_at=at(-45),
)

BREACHED = replace(
    BASE,
    clocks=(
        clock("first_response", due=-150, warn=-170),
        clock("resolution", due=600, warn=450),
    ),
    next_due_at=at(-150),
)


def facts(**changes: Any) -> TicketFacts:
    return replace(BASE, **changes)


def holds(field: str, op: str, value: Any, ticket: TicketFacts = BASE) -> bool:
    condition = parse_condition({"field": field, "op": op, "value": value})
    return check_condition(condition, ticket, NOW).passed


@pytest.mark.parametrize(
    ("field", "op", "value", "ticket", "expected"),
    [
        ("priority", "eq", "normal", BASE, True),
        ("priority", "ne", "normal", BASE, False),
        ("priority", "in", ["high", "urgent"], BASE, False),
        ("priority", "not_in", "high, urgent", BASE, True),
        ("priority", "gte", "normal", BASE, True),
        ("priority", "gt", "normal", BASE, False),
        ("priority", "lt", "high", BASE, True),
        ("priority", "lte", "low", BASE, False),
        ("priority", "gte", "high", facts(priority="urgent"), True),
        ("status", "eq", "OPEN", BASE, True),
        ("status", "in", ["pending", "on_hold"], BASE, False),
        ("channel", "eq", "sms", BASE, False),
        ("channel", "not_in", ["sms", "web"], BASE, True),
        ("team", "eq", 3, BASE, True),
        ("team", "eq", "3", BASE, True),
        ("team", "in", [4, 5], BASE, False),
        ("team", "is_empty", True, BASE, False),
        ("team", "is_empty", True, facts(team_id=None, team_name=None), True),
        ("assignee", "eq", "unassigned", BASE, True),
        ("assignee", "ne", "unassigned", BASE, False),
        ("assignee", "eq", 7, facts(assignee_id=7), True),
        ("assignee", "in", ["unassigned", 7], facts(assignee_id=7), True),
        ("assignee", "not_in", [7], facts(assignee_id=8), True),
        ("assignee", "is_empty", False, facts(assignee_id=8), True),
        ("tags", "contains", "vip", BASE, True),
        ("tags", "contains", "VIP", BASE, True),
        ("tags", "contains", ["vip", "repeat"], BASE, False),
        ("tags", "in", ["repeat", "invoice"], BASE, True),
        ("tags", "not_in", ["repeat", "legal"], BASE, True),
        ("tags", "not_in", ["vip"], BASE, False),
        ("tags", "is_empty", True, facts(tags=frozenset()), True),
        ("tags", "is_empty", True, BASE, False),
        ("customer_tags", "contains", "key account", BASE, True),
        ("customer_tags", "in", ["press"], BASE, False),
        ("repeat_contacts", "gte", 2, BASE, False),
        ("repeat_contacts", "gte", 2, facts(repeat_contacts=2), True),
        ("repeat_contacts", "eq", 1, BASE, True),
        ("again_mentions", "gt", 0, BASE, False),
        ("again_mentions", "ne", 0, facts(again_mentions=3), True),
        ("escalation_level", "lt", 2, BASE, True),
    ],
)
def test_condition_on_ticket_fields(field, op, value, ticket, expected):
    assert holds(field, op, value, ticket) is expected


@pytest.mark.parametrize(
    ("field", "op", "value", "ticket", "expected"),
    [
        # the earliest deadline is 20 minutes away
        ("minutes_to_due", "lte", 30, BASE, True),
        ("minutes_to_due", "lte", 20, BASE, True),
        ("minutes_to_due", "lt", 20, BASE, False),
        ("minutes_to_due", "lte", 19.5, BASE, False),
        ("minutes_to_due", "gte", 60, BASE, False),
        ("minutes_to_due", "lte", 30, facts(next_due_at=None), False),
        ("minutes_to_due", "is_empty", True, facts(next_due_at=None), True),
        ("minutes_to_due", "lte", -120, BREACHED, True),
        ("first_response_minutes_to_due", "lte", 20, BASE, True),
        ("resolution_minutes_to_due", "lte", 30, BASE, False),
        ("resolution_minutes_to_due", "gt", 599, BASE, True),
        ("next_response_minutes_to_due", "is_empty", True, BASE, True),
        # not yet breached: no breach to count from
        ("minutes_since_breach", "gte", 0, BASE, False),
        ("minutes_since_breach", "is_empty", True, BASE, True),
        ("minutes_since_breach", "gte", 0, BREACHED, True),
        ("minutes_since_breach", "gte", 120, BREACHED, True),
        ("minutes_since_breach", "gte", 150, BREACHED, True),
        ("minutes_since_breach", "gt", 150, BREACHED, False),
        ("first_response_minutes_since_breach", "gte", 120, BREACHED, True),
        ("resolution_minutes_since_breach", "gte", 0, BREACHED, False),
        ("minutes_since_customer_message", "gte", 45, BASE, True),
        ("minutes_since_customer_message", "gt", 45, BASE, False),
        ("minutes_since_customer_message", "lte", 10, BASE, False),
        ("minutes_since_customer_message", "gte", 0, facts(last_customer_message_at=None), False),
    ],
)
def test_condition_on_time(field, op, value, ticket, expected):
    assert holds(field, op, value, ticket) is expected


@pytest.mark.parametrize(
    ("field", "op", "value", "ticket", "expected"),
    [
        # stored "running", but the warning instant passed five minutes ago
        ("first_response_state", "eq", "at_risk", BASE, True),
        ("resolution_state", "eq", "running", BASE, True),
        ("next_response_state", "is_empty", True, BASE, True),
        ("next_response_state", "ne", "breached", BASE, True),
        ("first_response_state", "eq", "breached", BREACHED, True),
        ("first_response_state", "in", ["at_risk", "breached"], BREACHED, True),
        ("sla_state", "eq", "at_risk", BASE, True),
        ("sla_state", "eq", "breached", BREACHED, True),
        ("sla_state", "is_empty", True, facts(clocks=(), next_due_at=None, sla_state=None), True),
        # without clock rows the stored state and next_due_at decide
        ("sla_state", "eq", "running", facts(clocks=(), sla_state="running"), True),
        ("sla_state", "eq", "breached", facts(clocks=(), next_due_at=at(-1)), True),
        # a met clock stays met; a paused clock is not running
        ("first_response_state", "eq", "met",
         facts(clocks=(clock("first_response", state="met", running=False, due=-10),)), True),
        ("resolution_state", "eq", "paused",
         facts(clocks=(clock("resolution", state="paused", running=False),)), True),
        ("sla_state", "is_empty", True,
         facts(clocks=(clock("resolution", state="paused", running=False),)), True),
    ],
)
def test_condition_on_sla_state(field, op, value, ticket, expected):
    assert holds(field, op, value, ticket) is expected


@pytest.mark.parametrize(
    ("stored", "running", "due", "warn", "expected"),
    [
        ("running", True, 30, 10, "running"),
        ("running", True, 30, 0, "at_risk"),
        ("running", True, 0, -10, "at_risk"),  # due exactly now: not yet breached
        ("running", True, -0.01, -10, "breached"),
        ("at_risk", True, 30, 20, "running"),  # re-targeted later by a priority change
        ("breached", True, 30, 20, "breached"),  # a breach is final
        ("met", False, -30, -40, "met"),
        ("paused", False, None, None, "paused"),
    ],
)
def test_clock_state_follows_time(stored, running, due, warn, expected):
    assert clock("resolution", state=stored, running=running, due=due, warn=warn).state_at(
        NOW
    ) == expected


def test_current_clock_is_the_latest_cycle():
    ticket = facts(clocks=(
        clock("next_response", state="met", running=False, due=-300, cycle=1),
        clock("next_response", due=-5, cycle=2),
    ))
    assert ticket.current_clock("next_response").cycle == 2
    assert holds("next_response_minutes_since_breach", "gte", 5, ticket)


def test_stopped_breached_clock_is_not_an_open_breach():
    answered_late = clock("first_response", state="breached", running=False, due=-60, breached=-60)
    ticket = facts(clocks=(answered_late, clock("resolution", due=300)), next_due_at=at(300))
    assert holds("first_response_state", "eq", "breached", ticket)
    assert not holds("first_response_minutes_since_breach", "gte", 0, ticket)
    assert not holds("minutes_since_breach", "gte", 0, ticket)
    assert ticket_sla_state(ticket, NOW) == "running"


def rule(*conditions: dict[str, Any], match: str = "all") -> RuleSpec:
    return parse_rule("r", conditions, match=match, actions=[{"type": "raise_level"}])


@pytest.mark.parametrize(
    ("match", "conditions", "expected", "reason_count"),
    [
        ("all", [("priority", "eq", "normal"), ("tags", "contains", "vip")], True, 2),
        ("all", [("priority", "eq", "normal"), ("tags", "contains", "legal")], False, 1),
        ("any", [("priority", "eq", "urgent"), ("tags", "contains", "vip")], True, 1),
        ("any", [("priority", "eq", "urgent"), ("tags", "contains", "legal")], False, 2),
    ],
)
def test_match_all_or_any(match, conditions, expected, reason_count):
    spec = rule(*({"field": f, "op": o, "value": v} for f, o, v in conditions), match=match)
    result = evaluate(spec, BASE, NOW)
    assert result.matched is expected
    assert len(result.reasons) == reason_count


def test_rule_without_conditions_never_matches():
    result = evaluate(RuleSpec("empty", ()), BASE, NOW)
    assert not result.matched
    assert result.reasons == ["the rule has no conditions"]


def test_reasons_name_the_values_seen():
    spec = rule({"field": "minutes_to_due", "op": "lte", "value": 30},
                {"field": "assignee", "op": "eq", "value": "unassigned"})
    result = evaluate(spec, BASE, NOW)
    assert result.matched
    assert result.reasons == [
        "minutes to the earliest deadline is 20 (≤ 30)",
        "assignee is unassigned (is unassigned)",
    ]


def test_reasons_use_labels_the_service_gives():
    condition = Condition("team", "in", (3, 4), value_label="Billing, Sales")
    check = check_condition(condition, BASE, NOW)
    assert check.passed
    assert check.text == "team is Billing (is one of Billing, Sales)"


def test_failed_checks_are_reported():
    spec = rule({"field": "priority", "op": "eq", "value": "urgent"},
                {"field": "channel", "op": "eq", "value": "email"})
    result = evaluate(spec, BASE, NOW)
    assert result.failed == ["priority is normal (is urgent)"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, "unknown field 'colour'"),
        ({"field": "priority", "op": "contains", "value": "high"}, "cannot use 'contains'"),
        ({"field": "priority", "op": "eq", "value": "critical"}, "must be one of"),
        ({"field": "priority", "op": "eq", "value": ["high"]}, "takes one value"),
        ({"field": "status", "op": "in", "value": []}, "at least one value"),
        ({"field": "repeat_contacts", "op": "gte", "value": "two"}, "whole number"),
        ({"field": "repeat_contacts", "op": "gte", "value": -1}, "whole number"),
        ({"field": "minutes_to_due", "op": "eq", "value": 30}, "cannot use 'eq'"),
        ({"field": "minutes_to_due", "op": "lte", "value": "soon"}, "number of minutes"),
        ({"field": "assignee", "op": "eq", "value": "bob"}, "an id or 'unassigned'"),
        ({"field": "tags", "op": "contains", "value": "  "}, "at least one value"),
        ({"field": "team", "op": "is_empty", "value": "maybe"}, "yes or no"),
        ("priority eq high", "must be an object"),
    ],
)
def test_invalid_conditions_are_refused(raw, message):
    with pytest.raises(RuleInvalid) as error:
        parse_condition(raw)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ({"field": "status", "op": "in", "value": "Pending, on_hold"},
         Condition("status", "in", ("pending", "on_hold"))),
        ({"field": "tags", "op": "contains", "value": ["Needs Callback", "needs callback"]},
         Condition("tags", "contains", ("needs-callback",))),
        ({"field": "assignee", "op": "in", "value": ["unassigned", "7"]},
         Condition("assignee", "in", (None, 7))),
        ({"field": "minutes_to_due", "op": "lte", "value": "30"},
         Condition("minutes_to_due", "lte", 30)),
        ({"field": "minutes_to_due", "op": "lte", "value": "7.5"},
         Condition("minutes_to_due", "lte", 7.5)),
        ({"field": "team", "op": "is_empty"}, Condition("team", "is_empty", True)),
    ],
)
def test_conditions_are_normalised(raw, normalised):
    assert parse_condition(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "set_priority", "priority": "HIGH"},
         {"type": "set_priority", "priority": "high", "raise_only": False}),
        ({"type": "set_priority", "priority": "urgent", "raise_only": "yes"},
         {"type": "set_priority", "priority": "urgent", "raise_only": True}),
        ({"type": "assign_team", "team_id": "4"}, {"type": "assign_team", "team_id": 4}),
        ({"type": "assign_user", "user_id": 9, "extra": 1}, {"type": "assign_user", "user_id": 9}),
        ({"type": "add_tag", "tag": "Call Back"}, {"type": "add_tag", "tag": "call-back"}),
        ({"type": "add_note", "text": " Check the invoice "},
         {"type": "add_note", "text": "Check the invoice"}),
        ({"type": "notify", "target": "supervisors", "channels": ["sms", "email"]},
         {"type": "notify", "target": "supervisors", "channels": ["email", "sms"]}),
        ({"type": "notify", "target": "user", "user_id": 5, "channels": "sms",
          "message": "call now"},
         {"type": "notify", "target": "user", "channels": ["sms"], "user_id": 5,
          "message": "call now"}),
        ({"type": "notify", "target": "team"}, {"type": "notify", "target": "team",
                                                "channels": []}),
        ({"type": "raise_level"}, {"type": "raise_level", "level": None}),
        ({"type": "raise_level", "level": "2"}, {"type": "raise_level", "level": 2}),
    ],
)
def test_actions_are_normalised(raw, expected):
    assert parse_action(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "explode"}, "unknown action type"),
        ({"type": "set_priority", "priority": "asap"}, "priority must be one of"),
        ({"type": "assign_team"}, "choose a team"),
        ({"type": "assign_user", "user_id": "x"}, "choose a user"),
        ({"type": "add_tag", "tag": " "}, "needs a tag"),
        ({"type": "add_note", "text": ""}, "needs a text"),
        ({"type": "add_note", "text": "x" * 5001}, "longer than"),
        ({"type": "notify", "target": "everyone"}, "notify target"),
        ({"type": "notify", "target": "user"}, "choose a user"),
        ({"type": "notify", "target": "team", "channels": ["fax"]}, "not fax"),
        ({"type": "raise_level", "level": 11}, "between 1 and 10"),
    ],
)
def test_invalid_actions_are_refused(raw, message):
    with pytest.raises(RuleInvalid) as error:
        parse_action(raw)
    assert message in str(error.value)


def test_parse_rule_collects_every_problem():
    with pytest.raises(RuleInvalid) as error:
        parse_rule(" ", [{"field": "x"}, {"field": "priority", "op": "eq", "value": "high"}],
                   match="most", actions=[{"type": "add_tag"}])
    assert error.value.errors == [
        "the rule needs a name",
        "match must be 'all' or 'any'",
        "condition 1: unknown field 'x'",
        "action 1: add tag needs a tag",
    ]


def test_parse_rule_needs_conditions_and_actions():
    with pytest.raises(RuleInvalid) as error:
        parse_rule("r", [], actions=[])
    assert error.value.errors == [
        "the rule needs at least one condition", "the rule needs at least one action",
    ]


@pytest.mark.parametrize(
    ("condition", "anchors"),
    [
        ({"field": "priority", "op": "eq", "value": "high"}, set()),
        ({"field": "repeat_contacts", "op": "gte", "value": 2}, set()),
        ({"field": "minutes_to_due", "op": "lte", "value": 30},
         {(Anchor.ticket_next_due, None, timedelta(minutes=-30))}),
        ({"field": "minutes_since_breach", "op": "gte", "value": 120},
         {(Anchor.ticket_next_due, None, timedelta(minutes=120))}),
        ({"field": "resolution_minutes_to_due", "op": "gt", "value": 15},
         {(Anchor.clock_due, "resolution", timedelta(minutes=-15))}),
        ({"field": "first_response_minutes_since_breach", "op": "is_empty", "value": False},
         {(Anchor.clock_due, "first_response", timedelta(0))}),
        ({"field": "first_response_state", "op": "eq", "value": "at_risk"},
         {(Anchor.clock_due, "first_response", timedelta(0)),
          (Anchor.clock_warn, "first_response", timedelta(0))}),
        ({"field": "sla_state", "op": "eq", "value": "breached"},
         {(Anchor.clock_due, None, timedelta(0)), (Anchor.clock_warn, None, timedelta(0)),
          (Anchor.ticket_next_due, None, timedelta(0))}),
        ({"field": "minutes_since_customer_message", "op": "gte", "value": 240},
         {(Anchor.ticket_customer_message, None, timedelta(minutes=240))}),
    ],
)
def test_time_anchors(condition, anchors):
    assert time_anchors(rule(condition)) == anchors


@given(
    threshold=st.integers(min_value=-600, max_value=600),
    seconds_from_due=st.integers(min_value=-100_000, max_value=100_000),
    op=st.sampled_from(["lte", "lt", "gte", "gt"]),
)
def test_minutes_to_due_flips_only_at_its_anchor(threshold, seconds_from_due, op):
    """Truth changes exactly at anchor + offset, so the sweep window can find every flip."""
    spec = rule({"field": "minutes_to_due", "op": op, "value": threshold})
    ((_, _, offset),) = time_anchors(spec)
    due = NOW + timedelta(seconds=seconds_from_due)
    ticket = facts(next_due_at=due)
    flip = due + offset
    before = evaluate(spec, ticket, flip - timedelta(seconds=1)).matched
    after = evaluate(spec, ticket, flip + timedelta(seconds=1)).matched
    assert before != after
    now_matched = evaluate(spec, ticket, NOW).matched
    assert now_matched == (after if NOW > flip else before if NOW < flip else now_matched)


@given(
    threshold=st.integers(min_value=0, max_value=600),
    minutes_ago=st.integers(min_value=-600, max_value=6000),
)
def test_minutes_since_breach_flips_at_due_plus_threshold(threshold, minutes_ago):
    spec = rule({"field": "minutes_since_breach", "op": "gte", "value": threshold})
    ticket = facts(next_due_at=NOW - timedelta(minutes=minutes_ago), clocks=())
    assert evaluate(spec, ticket, NOW).matched == (minutes_ago >= threshold and minutes_ago > 0)


@given(st.lists(st.sampled_from([
    {"field": "priority", "op": "eq", "value": "normal"},
    {"field": "tags", "op": "contains", "value": "vip"},
    {"field": "channel", "op": "eq", "value": "sms"},
    {"field": "minutes_to_due", "op": "lte", "value": 10},
    {"field": "assignee", "op": "is_empty", "value": True},
]), min_size=1, max_size=4))
def test_any_and_all_agree_with_single_conditions(conditions):
    singles = [evaluate(rule(c), BASE, NOW).matched for c in conditions]
    assert evaluate(rule(*conditions, match="all"), BASE, NOW).matched == all(singles)
    assert evaluate(rule(*conditions, match="any"), BASE, NOW).matched == any(singles)


def test_default_rules_are_valid_and_form_a_ladder():
    rules = default_rules(escalation_team_id=12)
    specs = [parse_rule(r["name"], r["conditions"], match=r["match"], actions=r["actions"])
             for r in rules]
    assert len({spec.name for spec in specs}) == 4
    warning, breach, late, repeat = specs
    assert evaluate(warning, BASE, NOW).matched
    assert not evaluate(warning, BREACHED, NOW).matched
    assert not evaluate(breach, BASE, NOW).matched
    assert evaluate(breach, BREACHED, NOW).matched
    assert evaluate(late, BREACHED, NOW).matched
    assert not evaluate(late, replace(BREACHED, next_due_at=at(-119)), NOW).matched
    assert {"type": "assign_team", "team_id": 12} in late.actions
    assert evaluate(repeat, facts(repeat_contacts=2), NOW).matched


def test_default_late_rule_without_team_does_not_reassign():
    late = default_rules()[2]
    assert all(action["type"] != "assign_team" for action in late["actions"])


@pytest.mark.parametrize(
    ("action", "text"),
    [
        ({"type": "set_priority", "priority": "high", "raise_only": True},
         "raise priority to high"),
        ({"type": "assign_team", "team_id": 2}, "assign to team Escalations"),
        ({"type": "assign_user", "user_id": 4}, "assign to user #4"),
        ({"type": "notify", "target": "user", "user_id": 4, "channels": ["sms"]},
         "notify user #4 (back office, sms)"),
        ({"type": "raise_level", "level": None}, "raise escalation level by one"),
    ],
)
def test_describe_action(action, text):
    assert describe_action(action, {"team:2": "Escalations"}) == text


def test_every_field_has_a_description():
    for name, spec in FIELDS.items():
        op = spec.ops[0]
        value: Any = True if op == "is_empty" else (spec.choices[0] if spec.choices else 1)
        if op in ("in", "not_in", "contains"):
            value = [value if spec.kind.value != "tags" else "x"]
        condition = parse_condition({"field": name, "op": op, "value": value})
        assert describe_condition(condition).startswith(spec.label)
        check_condition(condition, BASE, NOW)  # every field can be read from a snapshot
