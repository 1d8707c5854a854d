"""Agent actions on tickets: replies via the outbox, notes, assignment, merge, split, presence."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import hand_made_ticket
from ticketing.domain.contact import Identity, IdentityKind, ThreadHints
from ticketing.models import (
    CustomerIdentity,
    Direction,
    Message,
    OutboxMessage,
    Priority,
    Tag,
    Team,
    TicketEvent,
    TicketStatus,
)
from ticketing.services import ticket_actions
from ticketing.services.ticket_actions import (
    ActionError,
    NewerMessagesError,
    OutboundSettings,
)

SETTINGS = OutboundSettings(
    mail_from_address="support@example.org",
    mail_from_name="Klantenservice",
    message_id_domain="tickets.example.org",
)
PHONE = "+31612345678"


@pytest.fixture
def agent(make_user):
    return make_user("agent", name="Anna Agent")


@pytest.fixture
def colleague(make_user):
    return make_user("agent", name="Bert Collega")


@pytest.fixture
def ticket(receive, make_contact):
    """A new e-mail ticket from a customer who also gave a phone number."""
    contact = make_contact(
        "Mijn pakket is niet aangekomen.",
        sender="klaas@example.nl",
        name="Klaas Klant",
        other_identities=(Identity(IdentityKind.phone, PHONE),),
    )
    return receive(contact).ticket


def _identity(ticket, kind):
    return next(row for row in ticket.customer.identities if row.kind == kind)


def _events(ticket, type_):
    return list(
        ticket_actions.db.session.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.type == type_)
            .order_by(TicketEvent.id)
        )
    )


def _outbox(db_session, purpose="reply"):
    return list(
        db_session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.purpose == purpose)
            .order_by(OutboxMessage.id)
        )
    )




def _add_inbound(db_session, ticket, identity, at, text="Hallo?", channel=None):
    message = Message(
        ticket=ticket, direction=Direction.inbound, channel=channel or (
            "sms" if identity.kind == "phone" else "email"
        ),
        kind="message", external_id=f"extra-{at.timestamp()}-{identity.id}", identity=identity,
        text=text, new_text=text, created_at=at, meta={},
    )
    db_session.add(message)
    db_session.flush()
    return message


# --- replies ------------------------------------------------------------------------------------


def test_email_reply_threads_under_the_customer_mail_and_tags_the_subject(
    db_session, ticket, agent, now
):
    inbound = ticket.messages[0]
    at = now + timedelta(minutes=20)

    message = ticket_actions.reply(ticket, "Wij zoeken het uit.\r\n", actor=agent, now=at,
                                   settings=SETTINGS)

    row = _outbox(db_session)[-1]
    assert row.channel == "email"
    assert row.recipient == "klaas@example.nl"
    assert row.message_id == message.id
    payload = row.payload
    assert payload["in_reply_to"] == inbound.rfc_message_id
    assert payload["references"][-1] == inbound.rfc_message_id
    assert payload["message_id"].endswith("@tickets.example.org")
    assert payload["message_id"].startswith(f"{ticket.reference.lower()}.")
    assert payload["subject"] == f"Re: Bestelling [{ticket.reference}]"
    assert payload["text"] == "Wij zoeken het uit."
    assert message.direction == Direction.outbound
    assert message.rfc_message_id == payload["message_id"]
    assert message.delivery_state.value == "queued"


def test_reply_records_the_event_and_the_response_times(db_session, ticket, agent, now):
    at = now + timedelta(minutes=20)

    message = ticket_actions.reply(ticket, "Antwoord", actor=agent, now=at, settings=SETTINGS)

    (event,) = _events(ticket, "reply.sent")
    assert event.message_id == message.id
    assert event.actor_id == agent.id
    assert event.data["channel"] == "email"
    assert ticket.last_agent_reply_at == at
    assert ticket.first_responded_at == at
    assert ticket.status == TicketStatus.open


def test_first_response_time_is_kept_on_later_replies(db_session, ticket, agent, now):
    first = now + timedelta(minutes=20)
    ticket_actions.reply(ticket, "Eerste", actor=agent, now=first, settings=SETTINGS)
    ticket_actions.reply(ticket, "Tweede", actor=agent, now=first + timedelta(hours=1),
                         settings=SETTINGS)

    assert ticket.first_responded_at == first
    assert ticket.last_agent_reply_at == first + timedelta(hours=1)


def test_reply_to_an_unassigned_ticket_assigns_it_to_the_replier(db_session, ticket, agent, now):
    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS)

    assert ticket.assignee is agent
    assert _events(ticket, "assignment.changed")[0].data["assignee"] == agent.name


def test_reply_leaves_an_existing_assignee(db_session, ticket, agent, colleague, now):
    ticket_actions.claim(ticket, actor=colleague, now=now)

    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS)

    assert ticket.assignee is colleague


@pytest.mark.parametrize(
    ("status_after", "expected"),
    [
        (None, TicketStatus.open),
        (TicketStatus.pending, TicketStatus.pending),
        (TicketStatus.solved, TicketStatus.solved),
        (TicketStatus.on_hold, TicketStatus.on_hold),
    ],
)
def test_reply_sets_the_chosen_status(db_session, ticket, agent, now, status_after, expected):
    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS,
                         status_after=status_after)

    assert ticket.status == expected


def test_reply_refuses_a_status_that_is_not_a_reply_status(db_session, ticket, agent, now):
    with pytest.raises(ActionError, match="cannot set the status"):
        ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS,
                             status_after=TicketStatus.closed)


def test_reply_goes_to_the_channel_the_customer_last_used(db_session, ticket, agent, now):
    phone = _identity(ticket, "phone")
    _add_inbound(db_session, ticket, phone, now + timedelta(minutes=5), "Nog nieuws?")

    ticket_actions.reply(ticket, "Morgen komt het.", actor=agent, now=now + timedelta(minutes=9),
                         settings=SETTINGS)

    row = _outbox(db_session)[-1]
    assert row.channel == "sms"
    assert row.recipient == PHONE
    assert row.payload["text"] == "Morgen komt het."
    (event,) = _events(ticket, "reply.sent")
    assert event.data["channel"] == "sms"
    assert event.data["segments"] == 1


def test_reply_can_go_to_another_identity_of_the_customer(db_session, ticket, agent, now):
    ticket_actions.reply(ticket, "Per sms", actor=agent, now=now, settings=SETTINGS,
                         identity=_identity(ticket, "phone"))

    row = _outbox(db_session)[-1]
    assert (row.channel, row.recipient) == ("sms", PHONE)
    assert ticket.messages[-1].channel == "sms"


def test_reply_refuses_an_address_of_another_customer(
    db_session, ticket, agent, now, receive, make_contact
):
    stranger = receive(make_contact("Ik ook", sender="ander@example.nl")).ticket
    other_identity = stranger.customer.identities[0]

    with pytest.raises(ActionError, match="does not belong"):
        ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS,
                             identity=other_identity)


def test_sms_reply_to_an_opted_out_number_is_refused_and_nothing_is_written(
    db_session, ticket, agent, now
):
    phone = _identity(ticket, "phone")
    phone.opted_out_at = now - timedelta(days=1)
    phone.opt_out_reason = "texted 'STOP'"
    messages_before = db_session.scalar(sa.select(sa.func.count(Message.id)))

    with pytest.raises(ActionError, match="opted out"):
        ticket_actions.reply(ticket, "Hallo", actor=agent, now=now, settings=SETTINGS,
                             identity=phone)

    assert db_session.scalar(sa.select(sa.func.count(Message.id))) == messages_before
    assert _outbox(db_session) == []
    assert _events(ticket, "reply.sent") == []


def test_sms_reply_longer_than_a_text_can_carry_is_refused(db_session, ticket, agent, now):
    with pytest.raises(ActionError, match="at most"):
        ticket_actions.reply(ticket, "x" * 1601, actor=agent, now=now, settings=SETTINGS,
                             identity=_identity(ticket, "phone"))


def test_empty_reply_is_refused(db_session, ticket, agent, now):
    with pytest.raises(ActionError, match="empty"):
        ticket_actions.reply(ticket, "  \r\n ", actor=agent, now=now, settings=SETTINGS)


def test_reply_after_a_newer_customer_message_needs_confirmation(db_session, ticket, agent, now):
    seen = ticket_actions.last_customer_message_id(ticket)
    newer = _add_inbound(db_session, ticket, _identity(ticket, "email"),
                         now + timedelta(minutes=3), "Laat maar, ik heb het al.")

    with pytest.raises(NewerMessagesError) as raised:
        ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now + timedelta(minutes=4),
                             settings=SETTINGS, seen_message_id=seen)

    assert raised.value.messages == [newer]
    assert _outbox(db_session) == []


def test_confirmed_reply_after_a_newer_customer_message_is_sent(db_session, ticket, agent, now):
    seen = ticket_actions.last_customer_message_id(ticket)
    _add_inbound(db_session, ticket, _identity(ticket, "email"), now + timedelta(minutes=3))

    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now + timedelta(minutes=4),
                         settings=SETTINGS, seen_message_id=seen, confirmed=True)

    assert len(_outbox(db_session)) == 1


def test_reply_when_the_agent_saw_the_latest_message_needs_no_confirmation(
    db_session, ticket, agent, now
):
    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS,
                         seen_message_id=ticket_actions.last_customer_message_id(ticket))

    assert len(_outbox(db_session)) == 1


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Bestelling", "Re: Bestelling [T-{id}]"),
        ("Re: Bestelling", "Re: Bestelling [T-{id}]"),
        ("Bestelling [T-{id}]", "Re: Bestelling [T-{id}]"),
        ("", "Re: T-{id}"),
    ],
)
def test_reply_subject_carries_the_tag_once(db_session, ticket, subject, expected):
    ticket.subject = subject.format(id=ticket.id)

    assert ticket_actions.reply_subject(ticket) == expected.format(id=ticket.id)


def test_references_stay_bounded_and_end_with_the_replied_message(db_session, ticket, agent, now):
    email = _identity(ticket, "email")
    for minute in range(1, 30):
        message = _add_inbound(db_session, ticket, email, now + timedelta(minutes=minute))
        message.rfc_message_id = f"m{minute}@example.nl"

    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now + timedelta(hours=1),
                         settings=SETTINGS)

    payload = _outbox(db_session)[-1].payload
    assert len(payload["references"]) == ticket_actions.MAX_REFERENCES
    assert payload["references"][0] == ticket.messages[0].rfc_message_id
    assert payload["references"][-1] == payload["in_reply_to"] == "m29@example.nl"


# --- notes and ticket fields --------------------------------------------------------------------


def test_note_is_internal_and_does_not_count_as_a_response(db_session, ticket, agent, now):
    note = ticket_actions.add_note(ticket, "Klant belde ook al.", actor=agent, now=now)

    assert note.direction == Direction.note
    assert note.author is agent
    assert _events(ticket, "note.added")[0].message_id == note.id
    assert _outbox(db_session) == []
    assert ticket.first_responded_at is None
    assert ticket.last_agent_reply_at is None


def test_empty_note_is_refused(db_session, ticket, agent, now):
    with pytest.raises(ActionError, match="empty"):
        ticket_actions.add_note(ticket, " ", actor=agent, now=now)


def test_claim_assigns_to_the_agent_and_their_team(db_session, make_user, ticket, now):
    team = Team(name="Facturen", created_at=now)
    db_session.add(team)
    agent = make_user("agent", team=team)

    assert ticket_actions.claim(ticket, actor=agent, now=now) is True
    assert (ticket.assignee, ticket.team) == (agent, team)
    (event,) = _events(ticket, "assignment.changed")
    assert event.data["assignee_id"] == agent.id
    assert event.data["team"] == "Facturen"
    assert ticket_actions.claim(ticket, actor=agent, now=now) is False


def test_assign_to_a_colleague_and_back_to_nobody(db_session, ticket, agent, colleague, now):
    ticket_actions.assign(ticket, assignee=colleague, team=None, actor=agent, now=now)
    ticket_actions.assign(ticket, assignee=None, team=None, actor=agent, now=now)

    events = _events(ticket, "assignment.changed")
    assert [event.data.get("assignee") for event in events] == [colleague.name, None]
    assert events[1].data["old_assignee"] == colleague.name
    assert ticket.assignee is None


def test_assign_refuses_a_deactivated_account(db_session, ticket, agent, colleague, now):
    colleague.is_active_account = False

    with pytest.raises(ActionError, match="cannot take tickets"):
        ticket_actions.assign(ticket, assignee=colleague, team=None, actor=agent, now=now)


def test_status_and_priority_changes_are_recorded(db_session, ticket, agent, now):
    assert ticket_actions.set_status(ticket, TicketStatus.solved, actor=agent, now=now)
    assert ticket_actions.set_priority(ticket, Priority.urgent, actor=agent, now=now)
    assert not ticket_actions.set_priority(ticket, Priority.urgent, actor=agent, now=now)

    assert ticket.solved_at == now
    assert _events(ticket, "status.changed")[-1].data == {"old": "new", "new": "solved"}
    assert _events(ticket, "priority.changed")[-1].data == {"old": "normal", "new": "urgent"}


def test_tags_are_normalised_created_and_diffed(db_session, ticket, agent, now):
    assert ticket_actions.parse_tags("Billing, urgent refund;; billing") == [
        "billing", "urgent-refund"
    ]
    ticket_actions.set_tags(ticket, ["Billing", "urgent refund"], actor=agent, now=now)
    ticket_actions.set_tags(ticket, ["billing", "nl"], actor=agent, now=now)

    assert [tag.name for tag in ticket.tags] == ["billing", "nl"]
    assert db_session.scalar(sa.select(sa.func.count(Tag.id))) == 3
    last = _events(ticket, "tags.changed")[-1]
    assert last.data == {"added": ["nl"], "removed": ["urgent-refund"]}
    assert ticket_actions.set_tags(ticket, ["nl", "billing"], actor=agent, now=now) is False


# --- merge --------------------------------------------------------------------------------------


@pytest.fixture
def second_ticket(db_session, ticket, now):
    """A second ticket of the same customer, by SMS an hour later."""
    return hand_made_ticket(db_session, ticket, "Nog steeds geen pakket",
                             now + timedelta(hours=1), channel="sms",
                             identity=_identity(ticket, "phone"))


def test_merge_moves_messages_and_keeps_both_histories(
    db_session, ticket, second_ticket, agent, now
):
    at = now + timedelta(hours=2)
    moved_message = second_ticket.messages[0]

    survivor = ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=at)

    assert survivor is ticket
    assert moved_message.ticket_id == ticket.id
    assert {m.id for m in ticket.messages} >= {moved_message.id}
    assert second_ticket.merged_into_id == ticket.id
    assert second_ticket.status == TicketStatus.closed
    assert _events(second_ticket, "ticket.merged")[0].data["into"] == ticket.reference
    assert _events(ticket, "ticket.merged")[0].data["merged_from"] == second_ticket.reference
    assert _events(second_ticket, "message.received"), "the source keeps its own log"
    assert ticket.contact_count == 2


def test_merge_copies_the_customer_messages_to_the_survivors_sla_events(
    db_session, ticket, second_ticket, agent, now
):
    ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now + timedelta(hours=2))

    received = _events(ticket, "message.received")
    copied = [event for event in received if event.data.get("merged_from")]
    assert len(copied) == 1
    assert copied[0].at == now + timedelta(hours=1), "copied at the original instant"
    assert ticket.last_customer_message_at == now + timedelta(hours=1)


def test_later_reply_to_a_merged_ticket_goes_to_the_survivor(
    db_session, ticket, second_ticket, agent, now, receive, make_contact
):
    ticket_actions.merge_tickets(ticket, second_ticket, actor=agent, now=now + timedelta(hours=2))
    original_mail = db_session.scalar(
        sa.select(Message).where(Message.rfc_message_id.is_not(None),
                                 Message.direction == Direction.inbound)
    )

    reply = make_contact(
        "Nog iets", sender="klaas@example.nl", at=now + timedelta(hours=3),
        thread=ThreadHints(message_id="later@example.nl",
                           in_reply_to=(original_mail.rfc_message_id,)),
    )
    result = receive(reply)

    assert result.ticket is second_ticket


def test_merge_reopens_a_solved_survivor_when_the_merged_ticket_is_open(
    db_session, ticket, second_ticket, agent, now
):
    ticket_actions.set_status(ticket, TicketStatus.solved, actor=agent, now=now)

    ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now + timedelta(hours=2))

    assert ticket.status == TicketStatus.open


@pytest.mark.parametrize("case", ["self", "already merged", "merged target"])
def test_merge_refuses_impossible_merges(db_session, ticket, second_ticket, agent, now, case):
    if case == "self":
        source, target = ticket, ticket
    elif case == "already merged":
        ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now)
        source, target = second_ticket, ticket
    else:
        ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now)
        source, target = ticket, second_ticket

    with pytest.raises(ActionError):
        ticket_actions.merge_tickets(source, target, actor=agent, now=now)


def test_merge_refuses_tickets_of_different_customers(
    db_session, ticket, agent, now, receive, make_contact
):
    other = receive(make_contact("Ander probleem", sender="iemand@example.nl")).ticket

    with pytest.raises(ActionError, match="different customers"):
        ticket_actions.merge_tickets(other, ticket, actor=agent, now=now)


def test_reply_on_a_merged_ticket_is_refused(db_session, ticket, second_ticket, agent, now):
    ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now)

    with pytest.raises(ActionError, match="merged into"):
        ticket_actions.reply(second_ticket, "Hallo", actor=agent, now=now, settings=SETTINGS)


# --- repeat links and splitting -----------------------------------------------------------------


def test_link_as_repeat_counts_and_records_on_both(db_session, ticket, second_ticket, agent, now):
    before = second_ticket.repeat_contacts

    assert ticket_actions.link_as_repeat(second_ticket, ticket, actor=agent, now=now)

    assert second_ticket.repeat_of_id == ticket.id
    assert second_ticket.repeat_contacts == before + 1
    assert _events(second_ticket, "repeat.linked")[0].data["prior"] == ticket.reference
    assert _events(ticket, "repeat.referenced")[0].data["later"] == second_ticket.reference
    assert ticket_actions.link_as_repeat(second_ticket, ticket, actor=agent, now=now) is False


def test_link_as_repeat_refuses_newer_tickets_and_loops(
    db_session, ticket, second_ticket, agent, now
):
    with pytest.raises(ActionError, match="newer"):
        ticket_actions.link_as_repeat(ticket, second_ticket, actor=agent, now=now)
    with pytest.raises(ActionError, match="itself"):
        ticket_actions.link_as_repeat(ticket, ticket, actor=agent, now=now)
    second_ticket.repeat_of_id = None
    ticket.repeat_of = second_ticket
    ticket.opened_at = second_ticket.opened_at  # same instant, so only the loop can refuse
    db_session.flush()
    with pytest.raises(ActionError, match="loop"):
        ticket_actions.link_as_repeat(second_ticket, ticket, actor=agent, now=now)


def test_split_moves_a_customer_message_to_a_new_ticket(db_session, ticket, agent, now):
    extra = _add_inbound(db_session, ticket, _identity(ticket, "phone"),
                         now + timedelta(minutes=30), "Andere vraag: mijn factuur klopt niet.")
    ticket.contact_count += 1

    new_ticket = ticket_actions.split_message(extra, actor=agent, now=now + timedelta(hours=1))

    assert extra.ticket is new_ticket
    assert new_ticket.customer_id == ticket.customer_id
    assert new_ticket.channel == "sms"
    assert new_ticket.subject == "Andere vraag: mijn factuur klopt niet."
    assert new_ticket.opened_at == extra.created_at
    assert new_ticket.status == TicketStatus.open
    (received,) = _events(new_ticket, "message.received")
    assert received.at == extra.created_at
    assert _events(new_ticket, "ticket.created")[0].data["split_from"] == ticket.reference
    assert _events(ticket, "message.split")[0].data["to"] == new_ticket.reference
    assert ticket.contact_count == 1
    assert ticket.last_customer_message_at == ticket.messages[0].created_at


def test_split_refuses_the_only_customer_message(db_session, ticket, agent, now):
    with pytest.raises(ActionError, match="only customer message"):
        ticket_actions.split_message(ticket.messages[0], actor=agent, now=now)


def test_split_refuses_an_agent_message(db_session, ticket, agent, now):
    note = ticket_actions.add_note(ticket, "intern", actor=agent, now=now)

    with pytest.raises(ActionError, match="customer's own message"):
        ticket_actions.split_message(note, actor=agent, now=now)


# --- derived state ------------------------------------------------------------------------------


def test_every_action_refreshes_sla_and_escalations(
    db_session, ticket, second_ticket, agent, colleague, now, monkeypatch
):
    triggers = []
    monkeypatch.setattr(
        ticket_actions, "ticket_changed",
        lambda changed, *, now, trigger: triggers.append((changed.reference, trigger)),
    )
    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS)
    ticket_actions.add_note(ticket, "Notitie", actor=agent, now=now)
    ticket_actions.assign(ticket, assignee=colleague, team=None, actor=agent, now=now)
    ticket_actions.set_status(ticket, TicketStatus.pending, actor=agent, now=now)
    ticket_actions.set_priority(ticket, Priority.high, actor=agent, now=now)
    ticket_actions.set_tags(ticket, ["x"], actor=agent, now=now)
    ticket_actions.link_as_repeat(second_ticket, ticket, actor=agent, now=now)
    ticket_actions.merge_tickets(second_ticket, ticket, actor=agent, now=now)

    assert [trigger for _ref, trigger in triggers] == [
        "reply.sent", "note.added", "assignment.changed", "status.changed",
        "priority.changed", "tags.changed", "repeat.linked", "ticket.merged", "ticket.merged",
    ]


def test_actions_never_commit(db_session, ticket, agent, now, monkeypatch):
    def refuse_commit():
        raise AssertionError("a service committed")

    monkeypatch.setattr(db_session, "commit", refuse_commit)
    ticket_actions.reply(ticket, "Antwoord", actor=agent, now=now, settings=SETTINGS)
    ticket_actions.add_note(ticket, "Notitie", actor=agent, now=now)
    ticket_actions.claim(ticket, actor=agent, now=now)


# --- presence -----------------------------------------------------------------------------------


def test_presence_shows_colleagues_within_the_window(db_session, ticket, agent, colleague, now):
    ticket_actions.update_presence(ticket, actor=agent, now=now)
    ticket_actions.update_presence(ticket, actor=colleague, now=now, is_replying=True)

    (viewer,) = ticket_actions.other_viewers(ticket, actor=agent, now=now + timedelta(seconds=10))
    assert (viewer.name, viewer.is_replying) == (colleague.name, True)
    later = now + ticket_actions.PRESENCE_WINDOW + timedelta(seconds=1)
    assert ticket_actions.other_viewers(ticket, actor=agent, now=later) == []


def test_presence_updates_in_place_and_clears_on_leave(db_session, ticket, agent, colleague, now):
    ticket_actions.update_presence(ticket, actor=colleague, now=now, is_replying=True)
    ticket_actions.update_presence(ticket, actor=colleague, now=now + timedelta(seconds=10))

    (viewer,) = ticket_actions.other_viewers(ticket, actor=agent, now=now + timedelta(seconds=10))
    assert viewer.is_replying is False
    ticket_actions.leave_ticket(ticket, actor=colleague, now=now)
    assert ticket_actions.other_viewers(ticket, actor=agent, now=now) == []


def test_default_reply_identity_prefers_the_last_used_address(db_session, ticket, now):
    assert ticket_actions.default_reply_identity(ticket).kind == "email"
    phone = _identity(ticket, "phone")
    _add_inbound(db_session, ticket, phone, now + timedelta(minutes=1))

    assert ticket_actions.default_reply_identity(ticket) == phone
    assert isinstance(phone, CustomerIdentity)
