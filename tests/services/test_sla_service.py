"""Stored SLA clocks: refreshed with every event, swept set-based and exactly once."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_DATABASE_URL, skip_or_fail, throwaway_database
from ticketing.domain.contact import ThreadHints
from ticketing.models import SlaClock, SlaPolicy, TicketEvent, TicketStatus
from ticketing.services import sla
from ticketing.services.events import record_event
from ticketing.services.tickets import change_priority, change_status, ticket_changed

POLICY = {
    "calendar": {"timezone": "Europe/Amsterdam",
                 "hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
    "targets": {"normal": {"first_response": 60, "next_response": 120, "resolution": 480},
                "high": {"first_response": 30, "next_response": 60, "resolution": 240}},
    "pause_statuses": ["pending"],
    "warn_ratio": 0.75,
}


@pytest.fixture
def policy(db_session):
    row = SlaPolicy(name=f"test-{uuid.uuid4().hex[:6]}", position=0, conditions={},
                    calendar=POLICY["calendar"], targets=POLICY["targets"],
                    pause_statuses=POLICY["pause_statuses"], warn_ratio=0.75)
    db_session.add(row)
    db_session.flush()
    return row


def _clocks(db_session, ticket):
    return {(c.metric, c.cycle): c for c in db_session.scalars(
        sa.select(SlaClock).where(SlaClock.ticket_id == ticket.id))}


def _agent_reply(ticket, at):
    record_event(ticket, "reply.sent", now=at)
    ticket.last_agent_reply_at = at
    ticket_changed(ticket, now=at, trigger="reply.sent")


def test_a_new_ticket_starts_first_response_and_resolution(db_session, policy, make_contact,
                                                           receive, now):
    ticket = receive(make_contact()).ticket
    clocks = _clocks(db_session, ticket)
    assert set(clocks) == {("first_response", 1), ("resolution", 1)}
    # Monday 10:30 Amsterdam + 60 business minutes
    assert clocks[("first_response", 1)].due_at == now + timedelta(hours=1)
    assert ticket.next_due_at == now + timedelta(hours=1)
    assert ticket.sla_policy_snapshot["policy_id"] == policy.id


def test_an_agent_reply_meets_first_response(db_session, policy, make_contact, receive, now):
    ticket = receive(make_contact()).ticket
    _agent_reply(ticket, now + timedelta(minutes=20))
    clock = _clocks(db_session, ticket)[("first_response", 1)]
    assert clock.state == "met"
    assert not clock.is_running
    assert ticket.first_response_due_at is None


def test_pending_pauses_resolution_and_clears_its_due(db_session, policy, make_contact,
                                                      receive, now):
    ticket = receive(make_contact()).ticket
    _agent_reply(ticket, now + timedelta(minutes=10))
    change_status(ticket, TicketStatus.pending, now=now + timedelta(minutes=11))
    ticket_changed(ticket, now=now + timedelta(minutes=11), trigger="status.changed")
    clock = _clocks(db_session, ticket)[("resolution", 1)]
    assert clock.state == "paused"
    assert clock.due_at is None
    assert ticket.next_due_at is None


def test_a_priority_change_retargets_from_the_start(db_session, policy, make_contact, receive,
                                                    now):
    ticket = receive(make_contact()).ticket
    change_priority(ticket, ticket.priority.__class__("high"), now=now + timedelta(minutes=5))
    ticket_changed(ticket, now=now + timedelta(minutes=5), trigger="priority.changed")
    assert _clocks(db_session, ticket)[("first_response", 1)].due_at == now + timedelta(minutes=30)


def test_a_customer_reply_after_ours_starts_a_next_response_cycle(db_session, policy,
                                                                  make_contact, receive, now):
    first = receive(make_contact(thread=ThreadHints(message_id="n1@x")))
    _agent_reply(first.ticket, now + timedelta(minutes=10))
    receive(make_contact("Dank, maar...", thread=ThreadHints(message_id="n2@x",
                                                             in_reply_to=("n1@x",)),
                         at=now + timedelta(minutes=40)))
    clock = _clocks(db_session, first.ticket)[("next_response", 1)]
    assert clock.state == "running"
    assert clock.due_at == now + timedelta(minutes=40 + 120)


def test_sweep_records_breach_once_and_moves_states(db_session, policy, make_contact, receive,
                                                    now):
    ticket = receive(make_contact()).ticket
    sla.sweep_clocks(now=now)  # sets the lower bound
    later = now + timedelta(hours=2)
    first = sla.sweep_clocks(now=later)
    second = sla.sweep_clocks(now=later + timedelta(minutes=1))
    assert first["sla.breached"] == 1
    assert first["sla.at_risk"] == 0  # went straight past its warning: one breach event only
    assert second["sla.breached"] == 0
    events = db_session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.type == "sla.breached")).all()
    assert len(events) == 1
    assert events[0].at == now + timedelta(hours=1)
    assert events[0].data["metric"] == "first_response"
    clock = _clocks(db_session, ticket)[("first_response", 1)]
    db_session.refresh(clock)
    assert clock.state == "breached"
    assert clock.breached_at == now + timedelta(hours=1)
    # Queues read the live state from the instants; the sweep leaves ticket rows alone.
    assert ticket.next_due_at <= later


def test_refresh_sets_the_warning_instant_for_the_at_risk_queue(db_session, policy,
                                                                 make_contact, receive, now):
    ticket = receive(make_contact()).ticket
    # 75 % of a 60-minute target: 45 business minutes after the start
    assert ticket.next_warn_at == now + timedelta(minutes=45)


def test_sweep_records_at_risk_before_breach(db_session, policy, make_contact, receive, now):
    receive(make_contact())
    sla.sweep_clocks(now=now)
    summary = sla.sweep_clocks(now=now + timedelta(minutes=50))
    assert summary["sla.at_risk"] == 1
    assert summary["sla.breached"] == 0


def test_explain_tells_the_story(db_session, policy, make_contact, receive, now):
    ticket = receive(make_contact()).ticket
    stories = sla.explain_ticket(ticket, now=now + timedelta(hours=3))
    titles = [title for title, _lines in stories]
    assert titles[0].startswith("first response #1: breached")
    assert any("breached" in line for line in stories[0][1])


def test_recompute_reapplies_a_changed_policy(db_session, policy, make_contact, receive, now):
    ticket = receive(make_contact()).ticket
    policy.targets = {"normal": {"first_response": 15, "resolution": 480}}
    sla.recompute_open_tickets(now=now, reapply_policy=False)
    assert _clocks(db_session, ticket)[("first_response", 1)].target_seconds == 3600
    sla.recompute_open_tickets(now=now, reapply_policy=True)
    assert _clocks(db_session, ticket)[("first_response", 1)].target_seconds == 900


@pytest.mark.postgres
def test_two_workers_sweeping_at_once_record_each_event_once(tmp_path):
    """Real concurrency needs committed data and two connections: a database of its own."""
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set, so concurrent sweeps are not checked")
    from datetime import UTC, datetime

    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.models import Customer, Ticket

    with throwaway_database(f"sweep_{uuid.uuid4().hex[:8]}") as url:
        app = create_app("test", SQLALCHEMY_DATABASE_URI=url,
                         ATTACHMENT_STORAGE_PATH=str(tmp_path))
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        with app.app_context():
            db.create_all()
            customer = Customer(name="x")
            db.session.add(customer)
            for number in range(300):
                ticket = Ticket(customer=customer, channel="email", subject=str(number),
                                opened_at=start)
                db.session.add(ticket)
                db.session.flush()
                db.session.add(SlaClock(ticket_id=ticket.id, metric="first_response", cycle=1,
                                        state="running", priority="normal", started_at=start,
                                        due_at=start + timedelta(minutes=number % 50),
                                        warn_at=start, is_running=True))
            db.session.add(sla.SweepState(name="sla", last_swept_at=start - timedelta(hours=1)))
            db.session.commit()
        barrier = threading.Barrier(2)
        results: list[dict] = []
        errors: list[BaseException] = []

        def sweep() -> None:
            try:
                with app.app_context():
                    barrier.wait()
                    results.append(sla.sweep_clocks(now=start + timedelta(hours=1)))
                    db.session.commit()
                    db.session.remove()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sum(r["sla.breached"] for r in results) == 300
        with app.app_context():
            count = db.session.scalar(sa.select(sa.func.count(TicketEvent.id)).where(
                TicketEvent.type == "sla.breached"))
            db.session.remove()
            db.engine.dispose()
        assert count == 300


def _policy(db_session, name, position, conditions, first_response):
    row = SlaPolicy(name=name, position=position, conditions=conditions,
                    calendar={"timezone": "Europe/Amsterdam", "24/7": True},
                    targets={p: {"first_response": first_response, "resolution": 4800}
                             for p in ("low", "normal", "high", "urgent")},
                    pause_statuses=["pending"], warn_ratio=0.75)
    db_session.add(row)
    db_session.flush()
    return row


def test_policies_are_chosen_by_ordered_conditions(db_session, make_contact, receive):
    from ticketing.models import Tag

    _policy(db_session, "fallback", 50, {}, 240)
    sms = _policy(db_session, "sms", 20, {"channel": ["sms"]}, 60)
    vip = _policy(db_session, "vip", 10, {"customer_tag": ["vip"]}, 15)
    inactive = _policy(db_session, "inactive", 0, {}, 1)
    inactive.is_active = False

    by_mail = receive(make_contact(sender="a@example.nl")).ticket
    by_text = receive(make_contact("Hallo", sender="+31655555555", channel="sms")).ticket
    by_mail.customer.tags.append(Tag(name="vip"))
    later_text = receive(make_contact("Iets heel anders: factuur", sender="a@example.nl",
                                      subject="Factuur"),
                         look_back=timedelta(seconds=1)).ticket

    assert later_text.id != by_mail.id
    assert by_mail.sla_policy_snapshot["name"] == "fallback"
    assert by_text.policy_id == sms.id
    assert later_text.policy_id == vip.id  # the tag rule (position 10) comes before the rest


def test_flask_sla_explain_prints_the_clocks_in_words(runner, policy, make_contact, receive):
    ticket = receive(make_contact()).ticket
    result = runner.invoke(args=["sla", "explain", ticket.reference])
    assert result.exit_code == 0, result.output
    assert ticket.reference in result.output
    assert "first response #1" in result.output
    assert "started" in result.output
    missing = runner.invoke(args=["sla", "explain", "T-999999"])
    assert missing.exit_code != 0
    assert "no ticket T-999999" in missing.output


def test_flask_sla_sweep_hands_breaches_to_escalation(runner, db_session, policy, make_contact,
                                                      receive, now):
    import json

    from ticketing.models import EscalationFiring
    from ticketing.services.escalations import seed_default_rules

    seed_default_rules(now)
    receive(make_contact())  # opened in March: long breached by the time the command runs
    result = runner.invoke(args=["sla", "sweep"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sla.breached"] >= 1
    assert summary["escalations"]["fired"] >= 1
    assert db_session.scalar(sa.select(sa.func.count(EscalationFiring.id))) >= 1


def test_bulk_refresh_writes_the_clocks_the_orm_refresh_writes(db_session, policy, make_contact,
                                                               receive, now):
    """The batch path writes clocks with Core statements; the rows must come out the same."""
    columns = ("metric", "cycle", "state", "priority", "policy_id", "started_at", "due_at",
               "warn_at", "stopped_at", "breached_at", "elapsed_seconds", "paused_seconds",
               "target_seconds", "segments", "is_running")
    tickets = [receive(make_contact(f"Klacht {n}.", sender=f"k{n}@example.nl")).ticket
               for n in range(2)]
    later = now + timedelta(minutes=20)
    for ticket in tickets:
        _agent_reply(ticket, later)
        record_event(ticket, "message.received", now=later + timedelta(minutes=5),
                     kind="message")
        # Cycles a re-computation no longer produces: a breached one stays, stopped; an
        # ordinary one goes.
        for cycle, state in ((7, "breached"), (8, "running")):
            db_session.add(SlaClock(ticket_id=ticket.id, metric="next_response", cycle=cycle,
                                    state=state, priority="normal", started_at=now))
    db_session.flush()

    at = later + timedelta(minutes=30)
    sla.refresh_tickets_sla([tickets[0]], now=at, bulk=False)
    sla.refresh_tickets_sla([tickets[1]], now=at, bulk=True)
    db_session.expire_all()

    def stored(ticket):
        return sorted(tuple(getattr(clock, name) for name in columns)
                      for clock in _clocks(db_session, ticket).values())

    assert stored(tickets[1]) == stored(tickets[0])
    kept = {(metric, cycle, running) for metric, cycle, *_rest, running in stored(tickets[1])}
    assert ("next_response", 7, False) in kept
    assert not any(cycle == 8 for _metric, cycle, _running in kept)
    assert ("next_response", 1, True) in kept  # the customer wrote after our reply
    assert tickets[1].next_due_at == tickets[0].next_due_at
