"""Intake: idempotency, customers by identity, threading rules, kinds, acknowledgements."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ticketing.domain.contact import (
    Channel,
    ContactKind,
    Identity,
    IdentityKind,
    ThreadHints,
)
from ticketing.models import (
    Customer,
    CustomerIdentity,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from ticketing.services.tickets import change_status


def _events(db_session, ticket, type_):
    return list(db_session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.type == type_)))


def test_first_contact_opens_a_ticket_for_a_new_customer(db_session, make_contact, receive):
    result = receive(make_contact("Mijn pakket is niet bezorgd.", name="Anna de Vries"))
    assert result.outcome == "created"
    ticket = result.ticket
    assert ticket.status == TicketStatus.new
    assert ticket.customer.name == "Anna de Vries"
    assert [i.address for i in ticket.customer.identities] == ["klant@example.nl"]
    assert ticket.contact_count == 1
    assert _events(db_session, ticket, "ticket.created")
    assert _events(db_session, ticket, "message.received")
    assert result.tracking_token


def test_redelivered_contact_is_a_duplicate(db_session, make_contact, receive):
    contact = make_contact()
    first = receive(contact)
    second = receive(contact)
    assert second.outcome == "duplicate"
    assert second.ticket.id == first.ticket.id
    assert db_session.scalar(sa.select(sa.func.count(Message.id)).where(
        Message.direction == "in")) == 1


def test_identity_is_reused_across_contacts(db_session, make_contact, receive):
    receive(make_contact(sender="Klant@Example.nl".lower()))
    receive(make_contact(sender="klant@example.nl", subject="Iets anders"))
    assert db_session.scalar(sa.select(sa.func.count(Customer.id))) == 1


def test_web_form_links_email_and_phone_to_one_customer(db_session, make_contact, receive):
    contact = make_contact(
        channel="web",
        other_identities=(Identity(IdentityKind.phone, "+31612345678"),),
    )
    receive(contact)
    texted = make_contact("Nog steeds niks gehoord", sender="+31612345678", channel="sms")
    result = receive(texted)
    identities = db_session.scalars(sa.select(CustomerIdentity)).all()
    assert {i.customer_id for i in identities} == {result.ticket.customer_id}
    assert db_session.scalar(sa.select(sa.func.count(Customer.id))) == 1


def test_email_reply_threads_by_in_reply_to(db_session, make_contact, receive, now):
    first = receive(make_contact(thread=ThreadHints(message_id="orig@mail.example")))
    reply = make_contact(
        "Hier is de foto.",
        thread=ThreadHints(message_id="reply@mail.example", in_reply_to=("orig@mail.example",)),
        at=now + timedelta(minutes=5),
    )
    result = receive(reply)
    assert result.outcome == "appended"
    assert result.ticket.id == first.ticket.id


def test_stranger_in_thread_gets_a_new_ticket_linked_for_review(db_session, make_contact,
                                                                 receive):
    first = receive(make_contact(thread=ThreadHints(message_id="orig2@mail.example")))
    stranger = make_contact(
        "Ik zit in dezelfde thread",
        sender="iemand@anders.nl",
        thread=ThreadHints(message_id="x@mail.example", in_reply_to=("orig2@mail.example",)),
    )
    result = receive(stranger)
    assert result.outcome == "created"
    assert result.ticket.id != first.ticket.id
    assert result.ticket.repeat_of_id == first.ticket.id
    assert "not an address of that ticket's customer" in result.reason


def test_subject_tag_threads_for_the_same_customer(db_session, make_contact, receive):
    first = receive(make_contact())
    tagged = make_contact(
        "Aanvulling", subject=f"Re: Bestelling [{first.ticket.reference}]",
        thread=ThreadHints(message_id="tag@mail.example",
                           subject_ticket_ref=first.ticket.reference),
    )
    assert receive(tagged).ticket.id == first.ticket.id


def test_reply_read_before_its_original_joins_one_ticket(db_session, make_contact, receive):
    reply = make_contact(
        "Antwoord", thread=ThreadHints(message_id="r1@x", in_reply_to=("o1@x",),
                                        references=("o1@x",)),
    )
    reply_result = receive(reply)
    original = make_contact("Origineel", thread=ThreadHints(message_id="o1@x"))
    result = receive(original)
    assert result.ticket.id == reply_result.ticket.id


def test_customer_message_takes_pending_ticket_back_to_open(db_session, make_contact, receive,
                                                            now):
    first = receive(make_contact(thread=ThreadHints(message_id="p1@x")))
    change_status(first.ticket, TicketStatus.pending, now=now)
    receive(make_contact("Ok", thread=ThreadHints(message_id="p2@x", in_reply_to=("p1@x",)),
                         at=now + timedelta(hours=1)))
    assert first.ticket.status == TicketStatus.open


def test_reply_to_solved_ticket_within_window_reopens(db_session, make_contact, receive, now):
    first = receive(make_contact(thread=ThreadHints(message_id="s1@x")))
    change_status(first.ticket, TicketStatus.solved, now=now)
    result = receive(make_contact(
        "Het is weer kapot", thread=ThreadHints(message_id="s2@x", in_reply_to=("s1@x",)),
        at=now + timedelta(days=2)))
    assert result.ticket.id == first.ticket.id
    assert result.ticket.status == TicketStatus.open
    assert result.ticket.repeat_contacts == 1
    assert _events(db_session, result.ticket, "ticket.reopened")


def test_reply_to_long_closed_ticket_opens_a_linked_follow_up(db_session, make_contact,
                                                              receive, now):
    first = receive(make_contact(thread=ThreadHints(message_id="c1@x")))
    change_status(first.ticket, TicketStatus.closed, now=now)
    result = receive(make_contact(
        "Alweer hetzelfde probleem", thread=ThreadHints(message_id="c2@x", in_reply_to=("c1@x",)),
        at=now + timedelta(days=20)))
    assert result.outcome == "created"
    assert result.ticket.repeat_of_id == first.ticket.id
    assert result.ticket.repeat_contacts == 1
    assert result.ticket.again_mentions == 1


def test_bounce_attaches_to_the_original_thread(db_session, make_contact, receive, now):
    first = receive(make_contact(thread=ThreadHints(message_id="b1@x")))
    ack = db_session.scalar(sa.select(Message).where(Message.kind == "acknowledgement"))
    bounce = make_contact(
        "Delivery failed", sender="mailer-daemon@example.nl", kind=ContactKind.bounce,
        thread=ThreadHints(message_id="bounce@x", bounced_message_ids=(ack.rfc_message_id,)),
    )
    result = receive(bounce)
    assert result.outcome == "bounce"
    assert result.ticket.id == first.ticket.id
    assert ack.delivery_state.value == "failed"
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 1


def test_auto_reply_outside_a_thread_opens_nothing(db_session, make_contact, receive):
    result = receive(make_contact("Ik ben afwezig", kind=ContactKind.auto_reply))
    assert result.outcome == "auto_reply"
    assert result.ticket is None
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


def test_acknowledgements_are_capped_per_sender(db_session, make_contact, receive, now):
    for number in range(5):
        receive(make_contact(f"Klacht nummer {number} over iets totaal anders {number * 7}",
                             subject=f"Onderwerp {number}", at=now + timedelta(minutes=number)),
                look_back=timedelta(seconds=1))
    acks = db_session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(
        OutboxMessage.purpose == "acknowledgement"))
    assert acks == 3


def test_opt_out_keyword_is_recorded_on_the_number(db_session, make_contact, receive):
    receive(make_contact("Mijn factuur klopt niet", sender="+31611111111", channel="sms"))
    result = receive(make_contact("STOP", sender="+31611111111", channel="sms",
                                  kind=ContactKind.opt_out))
    identity = db_session.scalar(sa.select(CustomerIdentity).where(
        CustomerIdentity.address == "+31611111111"))
    assert result.outcome == "opt_out"
    assert identity.is_opted_out


def test_sms_ack_respects_the_setting(db_session, make_contact, receive):
    receive(make_contact("Klacht", sender="+31622222222", channel="sms"))
    assert db_session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    receive(make_contact("Andere klacht", sender="+31633333333", channel="sms"),
            acknowledge_sms=True)
    assert db_session.scalar(sa.select(OutboxMessage.channel)) == Channel.sms.value
