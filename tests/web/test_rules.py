"""Supervisor pages for escalation rules: access, the structured form, JSON mode, dry run, log."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing.models import (
    Customer,
    EscalationFiring,
    EscalationRule,
    Priority,
    Team,
    Ticket,
    TicketStatus,
)
from ticketing.services import escalations
from ticketing.services.escalations import RuleInput


@pytest.fixture
def supervisor(make_user, login):
    user = make_user("supervisor")
    login(user)
    return user


def make_ticket(db_session, now, **fields: Any) -> Ticket:
    ticket = Ticket(
        customer=Customer(name="Klant", created_at=now), status=TicketStatus.open,
        priority=Priority.normal, channel="email", subject=fields.pop("subject", "Late parcel"),
        opened_at=now - timedelta(hours=4), updated_at=now, **fields,
    )
    db_session.add(ticket)
    db_session.flush()
    return ticket


def make_rule(db_session, now, name: str = "Breach", **fields: Any) -> EscalationRule:
    data = {
        "conditions": [{"field": "minutes_since_breach", "op": "gte", "value": 0}],
        "actions": [{"type": "add_tag", "tag": "late"}],
        **fields,
    }
    rule = escalations.create_rule(RuleInput(name=name, **data), now=now - timedelta(days=1))
    db_session.flush()
    return rule


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Waiting too long",
        "description": "",
        "position": "10",
        "match": "all",
        "mode": "form",
        "condition_rows": "3",
        "cond-0-field": "minutes_since_breach",
        "cond-0-op": "gte",
        "cond-0-value": "60",
        "cond-1-field": "team",
        "cond-1-op": "in",
        "cond-1-value": "Billing, no team",
        "cond-2-field": "",
        "cond-2-op": "eq",
        "cond-2-value": "",
        "priority": "urgent",
        "raise_only": "1",
        "tags": "escalated, Call Back",
        "note": "",
        "notify_rows": "2",
        "notify-0-target": "supervisors",
        "notify-0-email": "1",
        "notify-0-message": "Look at this one",
        "notify-1-target": "",
        "level_enabled": "1",
        "level": "3",
        "intent": "save",
        "rule_json": "",
    }
    data.update(overrides)
    return data


def test_agents_cannot_see_rules(client, make_user, login):
    login(make_user("agent"))
    assert client.get("/supervisor/rules/").status_code == 403
    assert client.post("/supervisor/rules/seed").status_code == 403


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/supervisor/rules/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_list_shows_rules_in_words(client, db_session, now, supervisor):
    make_rule(db_session, now, name="Breach alarm")
    page = client.get("/supervisor/rules/").get_data(as_text=True)
    assert "Breach alarm" in page
    assert "minutes since the earliest breach ≥ 0" in page
    assert "add tag late" in page


def test_seed_adds_the_defaults_once(client, db_session, supervisor):
    team = Team(name="Escalations")
    db_session.add(team)
    db_session.flush()
    response = client.post("/supervisor/rules/seed", data={"escalation_team_id": str(team.id)})
    assert response.status_code == 302
    client.post("/supervisor/rules/seed", data={})
    rules = escalations.list_rules()
    assert len(rules) == 4
    assert {"type": "assign_team", "team_id": team.id} in rules[2].actions
    page = client.get("/supervisor/rules/").get_data(as_text=True)
    assert "assign to team Escalations" in page


def test_create_from_the_structured_form(client, db_session, supervisor):
    billing = Team(name="Billing")
    db_session.add(billing)
    db_session.flush()

    response = client.post("/supervisor/rules/new", data=form_data())

    assert response.status_code == 302, response.get_data(as_text=True)
    rule = db_session.scalar(sa.select(EscalationRule))
    assert rule.name == "Waiting too long"
    assert not rule.is_enabled
    assert rule.conditions == [
        {"field": "minutes_since_breach", "op": "gte", "value": 60},
        {"field": "team", "op": "in", "value": [billing.id, None]},
    ]
    assert rule.actions == [
        {"type": "set_priority", "priority": "urgent", "raise_only": True},
        {"type": "raise_level", "level": 3},
        {"type": "add_tag", "tag": "escalated"},
        {"type": "add_tag", "tag": "call-back"},
        {"type": "notify", "target": "supervisors", "channels": ["email"],
         "message": "Look at this one"},
    ]


def test_form_errors_are_listed_and_nothing_is_saved(client, db_session, supervisor):
    response = client.post("/supervisor/rules/new", data=form_data(**{
        "name": "", "cond-0-op": "contains", "cond-1-value": "Nonexistent team",
    }))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "the rule needs a name" in page
    assert "condition 1: minutes since the earliest breach cannot use &#39;contains&#39;" in page
    assert "condition 2: team must be an id or &#39;unassigned&#39;" in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(EscalationRule)) == 0


def test_create_in_json_mode(client, db_session, supervisor, make_user):
    manager = make_user("supervisor")
    rule_json = json.dumps({
        "match": "any",
        "conditions": [{"field": "repeat_contacts", "op": "gte", "value": 3},
                       {"field": "again_mentions", "op": "gte", "value": 2}],
        "actions": [{"type": "notify", "target": "user", "user_id": manager.id,
                     "channels": ["sms"]}],
    })
    response = client.post("/supervisor/rules/new", data=form_data(
        mode="json", rule_json=rule_json, is_enabled="1"))
    assert response.status_code == 302
    rule = db_session.scalar(sa.select(EscalationRule))
    assert (rule.match, rule.is_enabled) == ("any", True)
    assert rule.actions[0]["user_id"] == manager.id


def test_broken_json_is_reported(client, supervisor):
    response = client.post("/supervisor/rules/new", data=form_data(mode="json",
                                                                   rule_json="{oops"))
    assert response.status_code == 422
    assert "The JSON is not valid" in response.get_data(as_text=True)


def test_edit_shows_names_and_saves_changes(client, db_session, now, supervisor, make_user):
    agent = make_user("agent", email="anna@example.org")
    rule = make_rule(db_session, now, conditions=[
        {"field": "assignee", "op": "in", "value": [agent.id, None]},
    ])
    page = client.get(f"/supervisor/rules/{rule.id}/edit").get_data(as_text=True)
    assert 'value="anna@example.org, unassigned"' in page

    response = client.post(f"/supervisor/rules/{rule.id}/edit", data=form_data(
        name="Renamed", **{"cond-1-field": "assignee", "cond-1-value": "anna@example.org"},
        **{"cond-1-op": "eq"}))
    assert response.status_code == 302
    db_session.refresh(rule)
    assert rule.name == "Renamed"
    assert rule.conditions[1] == {"field": "assignee", "op": "eq", "value": agent.id}


def test_actions_that_do_not_fit_the_form_open_in_json_mode(client, db_session, now, supervisor):
    rule = make_rule(db_session, now, actions=[
        {"type": "add_note", "text": "first"}, {"type": "add_note", "text": "second"},
    ])
    page = client.get(f"/supervisor/rules/{rule.id}/edit").get_data(as_text=True)
    assert '<input type="radio" name="mode" value="json" checked>' in page
    assert "second" in page


def test_more_rows_keeps_what_was_typed(client, supervisor):
    response = client.post("/supervisor/rules/new", data=form_data(intent="add_rows"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="cond-3-field"' in page
    assert 'value="Waiting too long"' in page


def test_dry_run_from_the_form_saves_nothing(client, db_session, now, supervisor):
    late = make_ticket(db_session, now, next_due_at=now - timedelta(hours=3), subject="Broken tv")
    make_ticket(db_session, now, next_due_at=now + timedelta(hours=3))
    data = form_data(intent="dry_run", **{"cond-1-field": "", "cond-1-value": ""})

    response = client.post("/supervisor/rules/new", data=data)

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert late.reference in page
    assert "Broken tv" in page
    assert "would fire" in page
    assert db_session.scalar(sa.select(sa.func.count()).select_from(EscalationRule)) == 0


def test_dry_run_page_of_a_saved_rule(client, db_session, now, supervisor):
    rule = make_rule(db_session, now)
    rule.is_enabled = False
    late = make_ticket(db_session, now, next_due_at=now - timedelta(minutes=10))
    page = client.get(f"/supervisor/rules/{rule.id}/dry-run").get_data(as_text=True)
    assert late.reference in page
    assert "Enable this rule" in page


def test_toggle_and_delete(client, db_session, now, supervisor):
    rule = make_rule(db_session, now)
    client.post(f"/supervisor/rules/{rule.id}/toggle", data={"enable": "0"})
    db_session.refresh(rule)
    assert not rule.is_enabled
    client.post(f"/supervisor/rules/{rule.id}/toggle", data={"enable": "1"})
    db_session.refresh(rule)
    assert rule.is_enabled
    assert client.post(f"/supervisor/rules/{rule.id}/delete").status_code == 302
    assert db_session.get(EscalationRule, rule.id) is None
    assert client.get(f"/supervisor/rules/{rule.id}/edit").status_code == 404


def test_log_filters_and_pages(client, db_session, now, supervisor):
    rule = make_rule(db_session, now, name="Breach alarm")
    other = make_rule(db_session, now, name="Other", conditions=[
        {"field": "priority", "op": "eq", "value": "normal"}])
    tickets = [make_ticket(db_session, now, next_due_at=now - timedelta(minutes=5))
               for _ in range(3)]
    for index, ticket in enumerate(tickets):
        for fired_rule in (rule, other):
            db_session.add(EscalationFiring(
                rule_id=fired_rule.id, ticket_id=ticket.id, episode=1,
                fired_at=now + timedelta(minutes=index),
                trigger="sweep" if fired_rule is rule else "event:message.received",
                reason="why not", outcome=[{"type": "add_tag", "done": True, "text": "tag late"}],
            ))
    db_session.flush()

    everything = client.get("/supervisor/rules/log").get_data(as_text=True)
    assert everything.count("why not") == 6
    only_sweep = client.get("/supervisor/rules/log?trigger=sweep").get_data(as_text=True)
    assert only_sweep.count("why not") == 3
    one_ticket = client.get(f"/supervisor/rules/log?ticket={tickets[0].reference}")
    assert one_ticket.get_data(as_text=True).count("why not") == 2
    unknown = client.get("/supervisor/rules/log?ticket=nonsense").get_data(as_text=True)
    assert "Nothing fired that matches." in unknown
    by_rule = client.get(f"/supervisor/rules/log?rule={other.id}").get_data(as_text=True)
    assert by_rule.count("why not") == 3


def test_log_keyset_pagination(client, db_session, now, supervisor, monkeypatch):
    from ticketing.web import rules as rules_views

    monkeypatch.setattr(rules_views, "LOG_PAGE_SIZE", 2)
    rule = make_rule(db_session, now)
    for index in range(3):
        ticket = make_ticket(db_session, now, subject=f"ticket {index}")
        db_session.add(EscalationFiring(rule_id=rule.id, ticket_id=ticket.id, episode=1,
                                        fired_at=now + timedelta(minutes=index), trigger="sweep",
                                        reason=f"reason {index}", outcome=[]))
    db_session.flush()
    first = client.get("/supervisor/rules/log").get_data(as_text=True)
    assert "reason 2" in first
    assert "reason 0" not in first
    marker = 'before='
    assert marker in first
    link = first[first.index("/supervisor/rules/log?before="):].split('"')[0].replace("&amp;", "&")
    second = client.get(link).get_data(as_text=True)
    assert "reason 0" in second
    assert "reason 2" not in second
