"""Escalation service on SQLite and PostgreSQL: firing, re-arming, actions, sweep, dry run, log."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing.domain.contact import ThreadHints
from ticketing.models import (
    Customer,
    EscalationFiring,
    EscalationRule,
    EscalationRuleState,
    Message,
    Notification,
    OutboxMessage,
    Priority,
    Role,
    SlaClock,
    Tag,
    Team,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
    ticket_tags,
)
from ticketing.services import escalations
from ticketing.services.escalations import FiringFilter, RuleInput, evaluate_due, evaluate_ticket

MINUTE = timedelta(minutes=1)


# --- factories -----------------------------------------------------------------------------


@pytest.fixture
def make_ticket(db_session, now) -> Callable[..., Ticket]:
    def factory(*, status: str = "open", priority: str = "normal", channel: str = "email",
                subject: str = "Parcel never arrived", **fields: Any) -> Ticket:
        ticket = Ticket(
            customer=Customer(name="Klant", created_at=now),
            status=TicketStatus(status),
            priority=Priority(priority),
            channel=channel,
            subject=subject,
            opened_at=now - timedelta(hours=3),
            updated_at=now - timedelta(hours=3),
            **fields,
        )
        db_session.add(ticket)
        db_session.flush()
        return ticket

    return factory


@pytest.fixture
def make_rule(db_session, now) -> Callable[..., EscalationRule]:
    counter = iter(range(1, 1000))

    def factory(conditions: list[dict[str, Any]], actions: list[dict[str, Any]], *,
                name: str | None = None, match: str = "all", enabled: bool = True,
                position: int | None = None) -> EscalationRule:
        number = next(counter)
        rule = escalations.create_rule(
            RuleInput(name=name or f"rule {number}", conditions=conditions, actions=actions,
                      match=match, is_enabled=enabled,
                      position=position if position is not None else number * 10),
            now=now - timedelta(days=1),
        )
        db_session.flush()
        return rule

    return factory


def add_clock(ticket: Ticket, metric: str, *, due: datetime | None, warn: datetime | None = None,
              state: str = "running", running: bool = True, cycle: int = 1) -> SlaClock:
    clock = SlaClock(
        ticket_id=ticket.id, metric=metric, cycle=cycle, state=state, priority="normal",
        started_at=ticket.opened_at, due_at=due, warn_at=warn, is_running=running,
        breached_at=due if state == "breached" else None,
    )
    from ticketing.extensions import db

    db.session.add(clock)
    db.session.flush()
    return clock


def count(db_session, model: Any, *where: Any) -> int:
    return db_session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def tag_names(db_session, ticket: Ticket) -> set[str]:
    return set(db_session.scalars(
        sa.select(Tag.name).join(ticket_tags, ticket_tags.c.tag_id == Tag.id)
        .where(ticket_tags.c.ticket_id == ticket.id)
    ))


TAG_REPEAT = [{"type": "add_tag", "tag": "repeat"}]
REPEATED = [{"field": "repeat_contacts", "op": "gte", "value": 2}]


@pytest.fixture
def no_sla_refresh(monkeypatch) -> list[int]:
    """Record SLA refreshes instead of recomputing clocks these tests wrote by hand."""
    from ticketing.services import sla

    calls: list[int] = []
    monkeypatch.setattr(sla, "refresh_ticket_sla", lambda ticket, *, now: calls.append(ticket.id))
    return calls


# --- firing and re-arming on events --------------------------------------------------------


def test_rule_fires_once_per_episode(db_session, now, make_ticket, make_rule):
    rule = make_rule(REPEATED, TAG_REPEAT)
    ticket = make_ticket(repeat_contacts=2)

    first = evaluate_ticket(ticket, now=now, trigger="message.received")
    again = evaluate_ticket(ticket, now=now + MINUTE, trigger="message.received")

    assert [(f.rule_id, f.episode, f.trigger) for f in first] == [
        (rule.id, 1, "event:message.received")
    ]
    assert again == []
    assert tag_names(db_session, ticket) == {"repeat"}
    assert first[0].reason == "repeat contacts is 2 (≥ 2)"
    assert first[0].outcome == [{"type": "add_tag", "done": True, "text": "tag repeat added"}]


def test_firing_is_logged_on_the_ticket(db_session, now, make_ticket, make_rule):
    rule = make_rule(REPEATED, TAG_REPEAT, name="Keeps coming back")
    ticket = make_ticket(repeat_contacts=3)
    evaluate_ticket(ticket, now=now, trigger="message.received")

    event = db_session.scalar(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                     TicketEvent.type == "escalation.fired")
    )
    assert event.data["rule"] == "Keeps coming back"
    assert event.data["rule_id"] == rule.id
    assert event.data["reason"] == "repeat contacts is 3 (≥ 2)"
    assert event.data["actions"] == ["tag repeat added"]
    assert event.data["trigger"] == "event:message.received"
    assert count(db_session, TicketEvent, TicketEvent.ticket_id == ticket.id,
                 TicketEvent.type == "tags.changed") == 1


def test_rule_rearms_only_after_its_condition_was_false(db_session, now, make_ticket, make_rule):
    rule = make_rule([{"field": "priority", "op": "eq", "value": "urgent"}],
                     [{"type": "raise_level"}])
    ticket = make_ticket(priority="urgent")

    assert len(evaluate_ticket(ticket, now=now, trigger="priority.changed")) == 1
    assert evaluate_ticket(ticket, now=now + MINUTE, trigger="reply.sent") == []
    ticket.priority = Priority.normal
    assert evaluate_ticket(ticket, now=now + 2 * MINUTE, trigger="priority.changed") == []
    state = db_session.get(EscalationRuleState, (rule.id, ticket.id))
    assert (state.is_matching, state.episode) == (False, 1)
    ticket.priority = Priority.urgent
    second = evaluate_ticket(ticket, now=now + 3 * MINUTE, trigger="priority.changed")

    assert [firing.episode for firing in second] == [2]
    assert ticket.escalation_level == 2


def test_no_state_row_for_rules_that_never_matched(db_session, now, make_ticket, make_rule):
    make_rule(REPEATED, TAG_REPEAT)
    ticket = make_ticket(repeat_contacts=0)
    assert evaluate_ticket(ticket, now=now, trigger="message.received") == []
    assert count(db_session, EscalationRuleState) == 0


def test_existing_firing_for_the_episode_stops_the_actions(db_session, now, make_ticket,
                                                           make_rule):
    """The unique (rule, ticket, episode) constraint is the last line against a double firing."""
    rule = make_rule(REPEATED, TAG_REPEAT)
    ticket = make_ticket(repeat_contacts=2)
    db_session.add(EscalationFiring(rule_id=rule.id, ticket_id=ticket.id, episode=1,
                                    fired_at=now - MINUTE, trigger="sweep", reason="earlier"))
    db_session.flush()

    assert evaluate_ticket(ticket, now=now, trigger="message.received") == []
    assert tag_names(db_session, ticket) == set()
    assert count(db_session, EscalationFiring) == 1
    # the state still records the episode, so the rule does not try again every event
    assert db_session.get(EscalationRuleState, (rule.id, ticket.id)).is_matching


def test_disabled_rules_and_merged_tickets_are_left_alone(db_session, now, make_ticket,
                                                          make_rule):
    make_rule(REPEATED, TAG_REPEAT, enabled=False)
    ticket = make_ticket(repeat_contacts=2)
    assert evaluate_ticket(ticket, now=now, trigger="message.received") == []
    enabled = make_rule(REPEATED, TAG_REPEAT)
    survivor = make_ticket()
    merged = make_ticket(repeat_contacts=5, merged_into_id=survivor.id)
    assert evaluate_ticket(merged, now=now, trigger="ticket.merged") == []
    assert [f.rule_id for f in evaluate_ticket(ticket, now=now, trigger="x")] == [enabled.id]


def test_match_any(db_session, now, make_ticket, make_rule):
    make_rule([{"field": "channel", "op": "eq", "value": "sms"},
               {"field": "customer_tags", "op": "contains", "value": "vip"}],
              TAG_REPEAT, match="any")
    ticket = make_ticket(channel="sms")
    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")
    assert firing.reason == "channel is sms (is sms)"


def test_conditions_read_tags_customer_tags_and_owner(db_session, now, make_ticket, make_rule,
                                                      make_user):
    team = Team(name="Billing")
    db_session.add(team)
    agent = make_user("agent", team=team)
    vip = Tag(name="vip")
    ticket = make_ticket(team=team, assignee=agent)
    ticket.tags.append(Tag(name="invoice"))
    ticket.customer.tags.append(vip)
    db_session.flush()
    make_rule([
        {"field": "tags", "op": "contains", "value": "invoice"},
        {"field": "customer_tags", "op": "in", "value": ["vip", "press"]},
        {"field": "team", "op": "eq", "value": team.id},
        {"field": "assignee", "op": "ne", "value": "unassigned"},
    ], [{"type": "raise_level", "level": 1}])

    [firing] = evaluate_ticket(ticket, now=now, trigger="tags.changed")

    assert "team is Billing (is Billing)" in firing.reason
    assert f"assignee is {agent.name} (is not unassigned)" in firing.reason


# --- actions -------------------------------------------------------------------------------


def test_set_priority_records_the_change_and_refreshes_the_sla(
    db_session, now, make_ticket, make_rule, no_sla_refresh
):
    make_rule(REPEATED, [{"type": "set_priority", "priority": "high", "raise_only": True}])
    ticket = make_ticket(repeat_contacts=2)

    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")

    assert ticket.priority == Priority.high
    assert firing.outcome[0]["text"] == "priority normal → high"
    assert no_sla_refresh == [ticket.id]
    event = db_session.scalar(sa.select(TicketEvent).where(TicketEvent.type == "priority.changed"))
    assert (event.data["old"], event.data["new"]) == ("normal", "high")
    assert "escalation rule" in event.data["reason"]


def test_raise_only_never_lowers_a_priority(db_session, now, make_ticket, make_rule,
                                            no_sla_refresh):
    make_rule(REPEATED, [{"type": "set_priority", "priority": "high", "raise_only": True}])
    ticket = make_ticket(priority="urgent", repeat_contacts=2)
    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")
    assert ticket.priority == Priority.urgent
    assert firing.outcome[0] == {"type": "set_priority", "done": False,
                                 "text": "priority stays urgent (only raised)"}
    assert no_sla_refresh == []


def test_assign_team_hands_over_and_unassigns_outsiders(db_session, now, make_ticket, make_rule,
                                                        make_user):
    first_line = Team(name="First line")
    escalation = Team(name="Escalations")
    db_session.add_all([first_line, escalation])
    db_session.flush()
    agent = make_user("agent", team=first_line)
    make_rule(REPEATED, [{"type": "assign_team", "team_id": escalation.id}])
    ticket = make_ticket(team=first_line, assignee=agent, repeat_contacts=2)

    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")

    assert (ticket.team, ticket.assignee) == (escalation, None)
    assert firing.outcome[0]["text"] == (
        f"team First line → Escalations; {agent.name} unassigned"
    )
    event = db_session.scalar(sa.select(TicketEvent).where(
        TicketEvent.type == "assignment.changed"))
    assert (event.data["old_team"], event.data["team"]) == ("First line", "Escalations")


def test_assign_user(db_session, now, make_ticket, make_rule, make_user):
    team = Team(name="Seniors")
    db_session.add(team)
    senior = make_user("agent", team=team)
    make_rule(REPEATED, [{"type": "assign_user", "user_id": senior.id}])
    ticket = make_ticket(repeat_contacts=2)
    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")
    assert (ticket.assignee, ticket.team) == (senior, team)
    assert firing.outcome[0]["done"]


def test_add_note_is_internal_and_automatic(db_session, now, make_ticket, make_rule):
    make_rule(REPEATED, [{"type": "add_note", "text": "Call the customer back today."}])
    ticket = make_ticket(repeat_contacts=2)
    evaluate_ticket(ticket, now=now, trigger="message.received")
    note = db_session.scalar(sa.select(Message).where(Message.ticket_id == ticket.id))
    assert note.direction.value == "note"
    assert note.is_automatic
    assert note.text == "Call the customer back today."


def test_notify_assignee_by_email_and_in_the_back_office(db_session, now, make_ticket,
                                                         make_rule, make_user):
    agent = make_user("agent")
    make_rule(REPEATED, [{"type": "notify", "target": "assignee", "channels": ["email"],
                          "message": "Please call back."}], name="Repeat")
    ticket = make_ticket(assignee=agent, repeat_contacts=2)

    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")

    notification = db_session.scalar(sa.select(Notification))
    assert (notification.user_id, notification.ticket_id) == (agent.id, ticket.id)
    assert notification.text.startswith(f"{ticket.reference}: Repeat — ")
    row = db_session.scalar(sa.select(OutboxMessage))
    assert (row.purpose, row.channel, row.recipient) == ("notification", "email", agent.email)
    assert row.payload["is_automatic"] is True
    assert row.payload["subject"] == f"[{ticket.reference}] Escalation: Repeat"
    assert "Please call back." in row.payload["text"]
    assert firing.outcome[0]["user_ids"] == [agent.id]


def test_notify_in_dutch_for_dutch_staff(db_session, now, make_ticket, make_rule, make_user):
    agent = make_user("agent")
    agent.language = "nl"
    make_rule(REPEATED, [{"type": "notify", "target": "assignee", "channels": ["email"]}],
              name="Herhaling")
    ticket = make_ticket(assignee=agent, repeat_contacts=2)
    evaluate_ticket(ticket, now=now, trigger="message.received")
    row = db_session.scalar(sa.select(OutboxMessage))
    assert row.payload["subject"] == f"[{ticket.reference}] Escalatie: Herhaling"


@pytest.mark.parametrize(("has_team", "expected_role"), [(True, "agent"), (False, "supervisor")])
def test_unassigned_ticket_notifies_its_team_else_supervisors(
    db_session, now, make_ticket, make_rule, make_user, has_team, expected_role
):
    team = Team(name="Returns")
    db_session.add(team)
    member = make_user("agent", team=team)
    supervisor = make_user("supervisor")
    make_rule(REPEATED, [{"type": "notify", "target": "assignee", "channels": []}])
    ticket = make_ticket(team=team if has_team else None, repeat_contacts=2)

    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")

    expected = member if expected_role == "agent" else supervisor
    assert [n.user_id for n in db_session.scalars(sa.select(Notification))] == [expected.id]
    assert count(db_session, OutboxMessage) == 0
    assert firing.outcome[0]["text"].startswith(
        "notified team Returns" if has_team else "notified supervisors"
    )


def test_notify_by_sms_needs_a_phone(db_session, now, make_ticket, make_rule, make_user):
    with_phone = make_user("supervisor")
    with_phone.phone = "+31612345678"
    without_phone = make_user("supervisor")
    make_rule(REPEATED, [{"type": "notify", "target": "supervisors", "channels": ["sms"]}])
    ticket = make_ticket(repeat_contacts=2)

    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")

    rows = list(db_session.scalars(sa.select(OutboxMessage)))
    assert [(r.channel, r.recipient, r.purpose) for r in rows] == [
        ("sms", "+31612345678", "notification")
    ]
    assert len(rows[0].payload["text"]) <= 300
    assert count(db_session, Notification) == 2
    assert f"{without_phone.name} has no phone number" in firing.outcome[0]["text"]


def test_notify_team_mails_its_shared_mailbox(db_session, now, make_ticket, make_rule,
                                              make_user):
    team = Team(name="Complaints", email="complaints@example.org")
    db_session.add(team)
    make_user("agent", team=team)
    make_user("agent", team=team)
    make_rule(REPEATED, [{"type": "notify", "target": "team", "channels": ["email"]}])
    ticket = make_ticket(team=team, repeat_contacts=2)

    evaluate_ticket(ticket, now=now, trigger="message.received")

    assert [r.recipient for r in db_session.scalars(sa.select(OutboxMessage))] == [
        "complaints@example.org"
    ]
    assert count(db_session, Notification) == 2


def test_notify_specific_user(db_session, now, make_ticket, make_rule, make_user):
    manager = make_user("supervisor")
    make_rule(REPEATED, [{"type": "notify", "target": "user", "user_id": manager.id,
                          "channels": ["email"]}])
    evaluate_ticket(make_ticket(repeat_contacts=2), now=now, trigger="message.received")
    assert [r.recipient for r in db_session.scalars(sa.select(OutboxMessage))] == [manager.email]


def test_raise_level_to_a_step_never_lowers(db_session, now, make_ticket, make_rule):
    make_rule(REPEATED, [{"type": "raise_level", "level": 2}])
    ticket = make_ticket(repeat_contacts=2, escalation_level=3)
    [firing] = evaluate_ticket(ticket, now=now, trigger="message.received")
    assert ticket.escalation_level == 3
    assert firing.outcome[0]["text"] == "escalation level stays 3"


def test_a_later_rule_sees_what_an_earlier_one_changed(db_session, now, make_ticket, make_rule,
                                                       no_sla_refresh):
    make_rule(REPEATED, [{"type": "set_priority", "priority": "urgent"}], position=1)
    second = make_rule([{"field": "priority", "op": "eq", "value": "urgent"}],
                       [{"type": "add_tag", "tag": "hot"}], position=2)
    ticket = make_ticket(repeat_contacts=2)

    firings = evaluate_ticket(ticket, now=now, trigger="message.received")

    assert [f.rule_id for f in firings][-1] == second.id
    assert tag_names(db_session, ticket) == {"hot"}


def test_actions_never_reenter_the_evaluation(db_session, now, make_ticket, make_rule,
                                              monkeypatch):
    """An SLA refresh that re-evaluates the ticket (as ticket_changed would) changes nothing."""
    from ticketing.services import sla

    nested: list[list[Any]] = []

    def refresh(ticket: Ticket, *, now: datetime) -> None:
        nested.append(evaluate_ticket(ticket, now=now, trigger="priority.changed"))

    monkeypatch.setattr(sla, "refresh_ticket_sla", refresh)
    make_rule(REPEATED, [{"type": "set_priority", "priority": "high"}])
    make_rule([{"field": "priority", "op": "eq", "value": "high"}], TAG_REPEAT)
    ticket = make_ticket(repeat_contacts=2)

    assert len(evaluate_ticket(ticket, now=now, trigger="message.received")) == 2
    assert nested == [[]]


def test_missing_team_is_reported_not_raised(db_session, now, make_ticket, make_rule):
    team = Team(name="Temporary")
    db_session.add(team)
    db_session.flush()
    make_rule(REPEATED, [{"type": "assign_team", "team_id": team.id}, *TAG_REPEAT])
    db_session.delete(team)
    db_session.flush()
    [firing] = evaluate_ticket(make_ticket(repeat_contacts=2), now=now, trigger="x")
    assert firing.outcome[0] == {"type": "assign_team", "done": False,
                                 "text": f"team #{team.id} no longer exists"}
    assert firing.outcome[1]["done"]


# --- the sweep -----------------------------------------------------------------------------

WARNING = [{"field": "minutes_to_due", "op": "lte", "value": 30}]
BREACH = [{"field": "minutes_since_breach", "op": "gte", "value": 0}]
LATE = [{"field": "minutes_since_breach", "op": "gte", "value": 120}]


def fired(db_session, rule: EscalationRule) -> list[tuple[int, int]]:
    return [tuple(row) for row in db_session.execute(
        sa.select(EscalationFiring.ticket_id, EscalationFiring.episode)
        .where(EscalationFiring.rule_id == rule.id)
        .order_by(EscalationFiring.ticket_id, EscalationFiring.episode)
    )]


def test_sweep_walks_the_ladder(db_session, now, make_ticket, make_rule):
    due = now + timedelta(hours=1)
    ticket = make_ticket(next_due_at=due)
    add_clock(ticket, "first_response", due=due, warn=due - timedelta(minutes=15))
    warning = make_rule(WARNING, [{"type": "raise_level", "level": 1}])
    breach = make_rule(BREACH, [{"type": "raise_level", "level": 2}])
    late = make_rule(LATE, [{"type": "raise_level", "level": 3}])

    steps = [
        (due - timedelta(minutes=31), 0),
        (due - timedelta(minutes=30), 1),
        (due, 1),  # at the instant itself the deadline is not yet breached
        (due + timedelta(seconds=30), 2),
        (due + timedelta(minutes=119), 2),
        (due + timedelta(minutes=120), 3),
        (due + timedelta(minutes=121), 3),
    ]
    for instant, level in steps:
        evaluate_due(instant, 100)
        assert ticket.escalation_level == level, instant

    assert fired(db_session, warning) == [(ticket.id, 1)]
    assert fired(db_session, breach) == [(ticket.id, 1)]
    assert fired(db_session, late) == [(ticket.id, 1)]
    triggers = set(db_session.scalars(sa.select(EscalationFiring.trigger)))
    assert triggers == {"sweep"}


def test_sweep_reads_only_new_crossings(db_session, now, make_ticket, make_rule):
    make_rule(BREACH, TAG_REPEAT)
    for minutes in (-300, -200, -100):
        make_ticket(next_due_at=now + timedelta(minutes=minutes))

    first = evaluate_due(now, 100)
    second = evaluate_due(now + MINUTE, 100)

    assert (first["candidates"], first["fired"]) == (3, 3)
    assert (second["candidates"], second["fired"]) == (0, 0)


def test_sweep_limit_continues_where_it_stopped(db_session, now, make_ticket, make_rule):
    rule = make_rule(BREACH, TAG_REPEAT)
    same_due = now - timedelta(hours=2)
    tickets = [make_ticket(next_due_at=same_due) for _ in range(5)]

    summaries = [evaluate_due(now, 2) for _ in range(4)]

    assert [s["more"] for s in summaries] == [1, 1, 0, 0]
    assert [s["fired"] for s in summaries] == [2, 2, 1, 0]
    assert fired(db_session, rule) == [(t.id, 1) for t in tickets]


def test_new_rule_catches_up_on_earlier_breaches(db_session, now, make_ticket, make_rule):
    old = make_ticket(next_due_at=now - timedelta(days=3))
    evaluate_due(now, 100)  # no rules yet
    rule = make_rule(BREACH, TAG_REPEAT)
    evaluate_due(now + MINUTE, 100)
    assert fired(db_session, rule) == [(old.id, 1)]


def test_edited_rule_sweeps_from_the_start_again(db_session, now, make_ticket, make_rule):
    rule = make_rule(LATE, TAG_REPEAT)
    ticket = make_ticket(next_due_at=now - timedelta(minutes=90))
    evaluate_due(now, 100)
    assert fired(db_session, rule) == []
    escalations.update_rule(rule, RuleInput(
        name=rule.name, conditions=[{"field": "minutes_since_breach", "op": "gte", "value": 60}],
        actions=TAG_REPEAT, position=rule.position,
    ), now=now)
    assert rule.swept_to is None
    evaluate_due(now + MINUTE, 100)
    assert fired(db_session, rule) == [(ticket.id, 1)]


def test_sweep_rearms_when_the_deadline_moves(db_session, now, make_ticket, make_rule):
    rule = make_rule(WARNING, [{"type": "raise_level"}])
    ticket = make_ticket(next_due_at=now + timedelta(minutes=20))
    evaluate_due(now, 100)
    # the agent answered: the next deadline is tomorrow, and the event re-arms the rule
    ticket.next_due_at = now + timedelta(days=1)
    evaluate_ticket(ticket, now=now + MINUTE, trigger="reply.sent")
    assert not db_session.get(EscalationRuleState, (rule.id, ticket.id)).is_matching

    evaluate_due(now + timedelta(hours=23, minutes=29), 100)
    assert fired(db_session, rule) == [(ticket.id, 1)]
    evaluate_due(now + timedelta(hours=23, minutes=30), 100)
    assert fired(db_session, rule) == [(ticket.id, 1), (ticket.id, 2)]
    assert ticket.escalation_level == 2


def test_sweep_rearms_a_rule_whose_window_closes(db_session, now, make_ticket, make_rule):
    """"More than an hour left" stops holding with time alone; the sweep notices."""
    rule = make_rule([{"field": "minutes_to_due", "op": "gt", "value": 60}], TAG_REPEAT)
    ticket = make_ticket(next_due_at=now + timedelta(minutes=90))
    assert len(evaluate_ticket(ticket, now=now, trigger="message.received")) == 1
    evaluate_due(now, 100)
    summary = evaluate_due(now + timedelta(minutes=31), 100)
    assert summary["rearmed"] == 1
    assert not db_session.get(EscalationRuleState, (rule.id, ticket.id)).is_matching


def test_sweep_per_metric_deadline_uses_clock_rows(db_session, now, make_ticket, make_rule):
    rule = make_rule([{"field": "resolution_minutes_to_due", "op": "lte", "value": 60}],
                     TAG_REPEAT)
    soon = make_ticket(next_due_at=now + timedelta(minutes=10))
    add_clock(soon, "first_response", due=now + timedelta(minutes=10))
    add_clock(soon, "resolution", due=now + timedelta(hours=8))
    resolving = make_ticket(next_due_at=now + timedelta(minutes=45))
    add_clock(resolving, "resolution", due=now + timedelta(minutes=45))
    paused = make_ticket()
    add_clock(paused, "resolution", due=None, state="paused", running=False)

    evaluate_due(now, 100)

    assert fired(db_session, rule) == [(resolving.id, 1)]


def test_sweep_notices_a_clock_turning_at_risk(db_session, now, make_ticket, make_rule):
    rule = make_rule([{"field": "first_response_state", "op": "eq", "value": "at_risk"}],
                     TAG_REPEAT)
    ticket = make_ticket(next_due_at=now + timedelta(hours=1))
    add_clock(ticket, "first_response", due=now + timedelta(hours=1),
              warn=now + timedelta(minutes=45))
    evaluate_due(now + timedelta(minutes=44), 100)
    assert fired(db_session, rule) == []
    evaluate_due(now + timedelta(minutes=46), 100)
    assert fired(db_session, rule) == [(ticket.id, 1)]


def test_sweep_counts_time_since_the_customer_wrote(db_session, now, make_ticket, make_rule):
    rule = make_rule([{"field": "minutes_since_customer_message", "op": "gte", "value": 240},
                      {"field": "status", "op": "eq", "value": "open"}], TAG_REPEAT)
    waiting = make_ticket(last_customer_message_at=now - timedelta(hours=5))
    recent = make_ticket(last_customer_message_at=now - timedelta(hours=1))
    make_ticket(status="pending", last_customer_message_at=now - timedelta(hours=6))
    evaluate_due(now, 100)
    assert fired(db_session, rule) == [(waiting.id, 1)]
    evaluate_due(now + timedelta(hours=3), 100)
    assert fired(db_session, rule) == [(waiting.id, 1), (recent.id, 1)]


def test_sweep_leaves_solved_tickets_alone(db_session, now, make_ticket, make_rule):
    rule = make_rule(BREACH, TAG_REPEAT)
    make_ticket(status="solved", next_due_at=now - timedelta(hours=1))
    evaluate_due(now, 100)
    assert fired(db_session, rule) == []


def test_sweep_gives_other_rules_a_pass_after_a_change(db_session, now, make_ticket, make_rule,
                                                       no_sla_refresh):
    make_rule(BREACH, [{"type": "set_priority", "priority": "urgent"}], position=1)
    follow_up = make_rule([{"field": "priority", "op": "eq", "value": "urgent"}],
                          [{"type": "add_tag", "tag": "hot"}], position=2)
    ticket = make_ticket(next_due_at=now - MINUTE)
    summary = evaluate_due(now, 100)
    assert summary["fired"] == 2
    [(_, trigger)] = db_session.execute(
        sa.select(EscalationFiring.rule_id, EscalationFiring.trigger)
        .where(EscalationFiring.rule_id == follow_up.id)
    ).all()
    assert trigger == "event:escalation.fired"
    assert tag_names(db_session, ticket) == {"hot"}


# --- dry run -------------------------------------------------------------------------------


def test_dry_run_lists_matches_without_changing_anything(db_session, now, make_ticket,
                                                         make_rule):
    rule = make_rule(BREACH, TAG_REPEAT, enabled=False)
    late = [make_ticket(next_due_at=now - timedelta(minutes=m)) for m in (5, 50, 500)]
    make_ticket(next_due_at=now + timedelta(hours=1))
    make_ticket(status="closed", next_due_at=now - timedelta(hours=1))

    result = escalations.dry_run(rule, now, limit=2)

    assert (result.examined, result.matched, result.truncated) == (4, 3, False)
    assert [m.reference for m in result.matches] == [t.reference for t in late[:2]]
    assert result.matches[0].reasons == ["minutes since the earliest breach is 5 (≥ 0)"]
    assert all(m.would_fire for m in result.matches)
    assert count(db_session, EscalationFiring) == 0
    assert count(db_session, EscalationRuleState) == 0


def test_dry_run_knows_what_already_fired(db_session, now, make_ticket, make_rule):
    rule = make_rule(BREACH, TAG_REPEAT)
    ticket = make_ticket(next_due_at=now - timedelta(minutes=5))
    evaluate_due(now, 100)
    [match] = escalations.dry_run(rule, now + MINUTE).matches
    assert (match.ticket_id, match.would_fire) == (ticket.id, False)


def test_dry_run_of_an_unsaved_rule_and_scan_limit(db_session, now, make_ticket):
    spec = escalations.validate_rule(RuleInput(name="draft", conditions=REPEATED,
                                               actions=TAG_REPEAT))
    for repeats in (0, 2, 3):
        make_ticket(repeat_contacts=repeats)
    assert escalations.dry_run(spec, now).matched == 2
    partial = escalations.dry_run(spec, now, scan_limit=2)
    assert (partial.examined, partial.matched, partial.truncated) == (2, 1, True)


# --- rules: validation, editing, seeding ---------------------------------------------------


def test_validation_checks_teams_users_and_names(db_session, now, make_rule):
    make_rule(REPEATED, TAG_REPEAT, name="Taken")
    with pytest.raises(escalations.RuleInvalid) as error:
        escalations.validate_rule(RuleInput(
            name="taken",
            conditions=[{"field": "team", "op": "eq", "value": 9999}],
            actions=[{"type": "assign_user", "user_id": 8888}],
        ))
    assert error.value.errors == [
        "team #9999 does not exist",
        "user #8888 does not exist",
        "another rule is already called 'taken'",
    ]


def test_stored_rule_is_normalised(db_session, now, make_rule):
    rule = make_rule([{"field": "status", "op": "in", "value": "Pending, on_hold"}],
                     [{"type": "add_tag", "tag": "Waiting Long"}])
    assert rule.conditions == [{"field": "status", "op": "in", "value": ["pending", "on_hold"]}]
    assert rule.actions == [{"type": "add_tag", "tag": "waiting-long"}]


def test_enabling_resets_the_sweep_cursor(db_session, now, make_rule):
    rule = make_rule(BREACH, TAG_REPEAT, enabled=False)
    rule.swept_to = now
    assert escalations.set_rule_enabled(rule, True, now=now)
    assert rule.swept_to is None
    assert not escalations.set_rule_enabled(rule, True, now=now)


def test_sweep_cursor_is_not_moved_over_an_edit(db_session, now, make_ticket, make_rule):
    rule = make_rule(BREACH, TAG_REPEAT)
    stale_updated_at = rule.updated_at
    escalations.set_rule_enabled(rule, False, now=now)
    escalations.set_rule_enabled(rule, True, now=now)
    escalations._advance_cursor(rule, (now, 0), stale_updated_at)
    db_session.refresh(rule)
    assert rule.swept_to is None


def test_delete_rule_removes_its_state_and_firings(db_session, now, make_ticket, make_rule):
    rule = make_rule(REPEATED, TAG_REPEAT)
    ticket = make_ticket(repeat_contacts=2)
    evaluate_ticket(ticket, now=now, trigger="x")
    escalations.delete_rule(rule)
    assert count(db_session, EscalationFiring) == 0
    assert count(db_session, EscalationRuleState) == 0
    assert count(db_session, TicketEvent, TicketEvent.type == "escalation.fired") == 1


def test_seeding_is_idempotent_by_name(db_session, now):
    team = Team(name="Escalations")
    db_session.add(team)
    db_session.flush()

    created = escalations.seed_default_rules(now, escalation_team_id=team.id)
    again = escalations.seed_default_rules(now)

    assert len(created) == 4
    assert again == []
    late = db_session.scalar(sa.select(EscalationRule).where(
        EscalationRule.name == "Breached for 2 hours: escalate"))
    assert {"type": "assign_team", "team_id": team.id} in late.actions
    assert [r.position for r in escalations.list_rules()] == [10, 20, 30, 40]


def test_seeded_rules_work_end_to_end(db_session, now, make_ticket, make_user, no_sla_refresh):
    escalations.seed_default_rules(now - timedelta(days=1))
    agent = make_user("agent")
    supervisor = make_user("supervisor")
    ticket = make_ticket(assignee=agent, next_due_at=now + timedelta(minutes=20))
    evaluate_due(now, 100)
    ticket.repeat_contacts = 2
    evaluate_ticket(ticket, now=now + MINUTE, trigger="message.received")
    evaluate_due(now + timedelta(minutes=21), 100)

    recipients = [r.recipient for r in db_session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id))]
    # the warning reaches the assignee; the repeat rule's team notice goes to the supervisors
    # (the ticket has no team); the breach goes to the supervisors
    assert recipients == [agent.email, supervisor.email, supervisor.email]
    assert ticket.priority == Priority.high
    assert "repeat" in tag_names(db_session, ticket)
    assert ticket.escalation_level == 2


# --- the log -------------------------------------------------------------------------------


def test_log_filters_and_pages_newest_first(db_session, now, make_ticket, make_rule):
    on_event = make_rule(REPEATED, TAG_REPEAT)
    on_sweep = make_rule(BREACH, [{"type": "raise_level"}])
    tickets = [make_ticket(repeat_contacts=2, next_due_at=now + 5 * MINUTE) for _ in range(3)]
    for offset, ticket in enumerate(tickets):
        evaluate_ticket(ticket, now=now + offset * MINUTE, trigger="message.received")
    evaluate_due(now + timedelta(minutes=10), 100)

    page = escalations.list_firings(FiringFilter(), limit=4)
    assert len(page.firings) == 4
    assert page.next_before is not None
    rest = escalations.list_firings(FiringFilter(), before=page.next_before, limit=4)
    everything = page.firings + rest.firings
    assert len(everything) == 6
    assert rest.next_before is None
    assert [f.fired_at for f in everything] == sorted((f.fired_at for f in everything),
                                                      reverse=True)
    assert {f.rule_id for f in escalations.list_firings(
        FiringFilter(trigger="sweep")).firings} == {on_sweep.id}
    assert len(escalations.list_firings(FiringFilter(rule_id=on_event.id)).firings) == 3
    assert len(escalations.ticket_firings(tickets[0].id)) == 2
    window = FiringFilter(since=now + MINUTE, until=now + 2 * MINUTE)
    assert [f.ticket_id for f in escalations.list_firings(window).firings] == [tickets[1].id]


# --- concurrent workers (PostgreSQL) -------------------------------------------------------


@pytest.fixture
def race_app(tmp_path):
    """An app with its own PostgreSQL database, so committed data never meets other tests."""
    from tests.conftest import skip_or_fail

    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        skip_or_fail("TEST_DATABASE_URL is not set, so the concurrency test is skipped")
    base = sa.make_url(url)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{base.database}_escalation_race_{worker}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    from ticketing.app import create_app
    from ticketing.extensions import db

    application = create_app(
        "test",
        SQLALCHEMY_DATABASE_URI=base.set(database=name).render_as_string(hide_password=False),
        ATTACHMENT_STORAGE_PATH=str(tmp_path / "attachments"),
    )
    with application.app_context():
        db.create_all()
    try:
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
def test_two_workers_never_fire_twice(race_app, now):
    from ticketing.extensions import db

    ticket_count = 40
    with race_app.app_context():
        db.session.add(User(email="sup@example.org", name="Sup", password_hash="x",
                            role=Role.supervisor, created_at=now))
        for index in range(ticket_count):
            db.session.add(Ticket(
                customer=Customer(name=f"c{index}", created_at=now), status=TicketStatus.open,
                priority=Priority.normal, channel="email", opened_at=now - timedelta(hours=5),
                updated_at=now, next_due_at=now - timedelta(minutes=index + 1),
            ))
        escalations.create_rule(RuleInput(
            name="breach", conditions=BREACH,
            actions=[{"type": "notify", "target": "supervisors", "channels": ["email"]},
                     {"type": "add_tag", "tag": "late"}, {"type": "raise_level"}],
        ), now=now - timedelta(days=1))
        escalations.create_rule(RuleInput(
            name="warning", conditions=WARNING, actions=[{"type": "raise_level"}],
        ), now=now - timedelta(days=1))
        db.session.commit()

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    summaries: list[dict[str, int]] = []

    def worker() -> None:
        try:
            with race_app.app_context():
                barrier.wait(timeout=10)
                summaries.append(evaluate_due(now, 1000))
                db.session.commit()
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(summary["fired"] for summary in summaries) == 2 * ticket_count
    with race_app.app_context():
        per_key = db.session.execute(
            sa.select(EscalationFiring.rule_id, EscalationFiring.ticket_id,
                      EscalationFiring.episode, sa.func.count())
            .group_by(EscalationFiring.rule_id, EscalationFiring.ticket_id,
                      EscalationFiring.episode)
        ).all()
        assert len(per_key) == 2 * ticket_count
        assert {row[3] for row in per_key} == {1}
        assert count(db.session, OutboxMessage) == ticket_count
        assert count(db.session, Notification) == ticket_count
        assert count(db.session, ticket_tags) == ticket_count
        assert count(db.session, TicketEvent, TicketEvent.type == "escalation.fired") == (
            2 * ticket_count
        )
        assert set(db.session.scalars(sa.select(Ticket.escalation_level))) == {2}


# --- the periodic job ----------------------------------------------------------------------


def test_sweep_job_runs_rounds_until_caught_up(db_session, make_ticket, make_rule, make_user):
    from ticketing.clock import utcnow
    from ticketing.jobs_escalation import sweep_escalations

    supervisor = make_user("supervisor")
    make_rule(BREACH, [{"type": "notify", "target": "supervisors", "channels": ["email"]}])
    for _ in range(3):
        make_ticket(next_due_at=utcnow() - timedelta(hours=1))

    total = sweep_escalations(limit=2, max_rounds=5)

    assert (total["fired"], total["rounds"]) == (3, 2)
    rows = list(db_session.scalars(sa.select(OutboxMessage)))
    assert [row.recipient for row in rows] == [supervisor.email] * 3
    # the job hands the notifications to the outbox worker (inline in tests)
    assert {row.status.value for row in rows} == {"sent"}
    assert sweep_escalations()["fired"] == 0


# --- through the real event path -----------------------------------------------------------


def test_intake_event_fires_rules_and_retargets_the_sla(db_session, now, make_rule, make_contact,
                                                        receive):
    make_rule([{"field": "channel", "op": "eq", "value": "email"}],
              [{"type": "set_priority", "priority": "urgent"}, {"type": "add_tag", "tag": "mail"}])

    result = receive(make_contact("Mijn pakket is nog steeds niet bezorgd."))

    ticket = result.ticket
    [firing] = db_session.scalars(sa.select(EscalationFiring)).all()
    assert (firing.ticket_id, firing.trigger) == (ticket.id, "event:message.received")
    assert ticket.priority == Priority.urgent
    assert tag_names(db_session, ticket) == {"mail"}
    running = [clock for clock in ticket.clocks if clock.is_running]
    assert running
    assert {clock.priority for clock in running} == {"urgent"}
    # a second message on the same ticket does not fire again
    reply = receive(make_contact("Nog een bericht", thread=ThreadHints(
        message_id="second@test", in_reply_to=(result.message.rfc_message_id,))))
    assert reply.ticket.id == ticket.id
    assert count(db_session, EscalationFiring) == 1
