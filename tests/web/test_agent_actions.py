"""Agent actions through the web: thin views over ticket_actions, each committing once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import hand_made_ticket
from ticketing.domain.contact import Identity, IdentityKind
from ticketing.models import (
    CannedResponse,
    Direction,
    Message,
    OutboxMessage,
    Team,
    Ticket,
    TicketStatus,
)
from ticketing.services import ticket_actions

PHONE = "+31612345678"


pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def agent(make_user, login):
    user = make_user("agent", name="Anna Agent")
    login(user)
    return user


@pytest.fixture
def ticket(receive, make_contact):
    contact = make_contact(
        "Mijn pakket is niet aangekomen.",
        sender="klaas@example.nl",
        name="Klaas Klant",
        other_identities=(Identity(IdentityKind.phone, PHONE),),
    )
    return receive(contact).ticket


@pytest.fixture
def kicks(monkeypatch):
    """Record outbox kicks instead of delivering (delivery has its own tests)."""
    from ticketing import jobs

    calls: list[int] = []
    monkeypatch.setattr(jobs, "kick_outbox", lambda: calls.append(1))
    return calls


def _identity(ticket, kind):
    return next(row for row in ticket.customer.identities if row.kind == kind)


def _replies(db_session):
    return list(db_session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.purpose == "reply").order_by(OutboxMessage.id)
    ))




def _post(client, url, **data):
    return client.post(url, data=data)


def test_email_reply_queues_the_mail_commits_and_kicks_the_outbox(
    client, db_session, agent, ticket, kicks
):
    response = _post(client, f"/tickets/{ticket.reference}/reply", text="Wij zoeken het uit.",
                     seen_message_id=ticket_actions.last_customer_message_id(ticket),
                     status_after="")

    assert response.status_code == 302
    assert response.location.endswith(f"/tickets/{ticket.reference}")
    (row,) = _replies(db_session)
    assert (row.channel, row.recipient) == ("email", "klaas@example.nl")
    assert f"[{ticket.reference}]" in row.payload["subject"]
    assert kicks == [1]
    page = client.get(response.location).get_data(as_text=True)
    assert "Reply sent by e-mail to klaas@example.nl." in page
    assert "Wij zoeken het uit." in page


def test_reply_and_solve_in_one_go(client, db_session, agent, ticket, kicks):
    _post(client, f"/tickets/{ticket.reference}/reply", text="Opgelost.", status_after="solved")

    assert ticket.status == TicketStatus.solved


def test_sms_reply_goes_to_the_chosen_number(client, db_session, agent, ticket, kicks):
    phone = _identity(ticket, "phone")

    response = _post(client, f"/tickets/{ticket.reference}/reply", text="Morgen bezorgd.",
                     identity_id=phone.id, status_after="pending")

    assert response.status_code == 302
    (row,) = _replies(db_session)
    assert (row.channel, row.recipient) == ("sms", PHONE)
    assert ticket.status == TicketStatus.pending


def test_sms_segments_are_counted_before_sending(client, db_session, agent, ticket):
    phone = _identity(ticket, "phone")
    text = "é" * 70 + "€"  # é is in the GSM-7 alphabet; € costs an escape (two septets)

    response = _post(client, f"/tickets/{ticket.reference}/reply", text=text,
                     identity_id=phone.id, preview="1")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "72 characters" not in html
    assert "71 characters · 1 SMS segment(s) · GSM-7" in html
    assert _replies(db_session) == []
    assert ">" + text + "</textarea>" in html, "the draft is kept"


def test_live_sms_counter_uses_the_server_rules(client, agent):
    info = _post(client, "/sms/segments", text="ü" * 10 + "✓").get_json()

    assert info["encoding"] == "UCS-2"
    assert info["segments"] == 1
    assert info["characters"] == 11
    assert _post(client, "/sms/segments", text="a" * 161).get_json()["segments"] == 2


def test_sms_to_an_opted_out_number_is_refused_with_the_draft_kept(
    client, db_session, agent, ticket, now, kicks
):
    phone = _identity(ticket, "phone")
    phone.opted_out_at = now
    phone.opt_out_reason = "texted 'STOP'"
    db_session.commit()

    response = _post(client, f"/tickets/{ticket.reference}/reply", text="Hallo daar",
                     identity_id=phone.id)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "opted out of text messages" in html
    assert ">Hallo daar</textarea>" in html
    assert _replies(db_session) == []
    assert kicks == []


def test_reply_after_a_newer_customer_message_asks_for_confirmation(
    client, db_session, agent, ticket, now, kicks
):
    seen = ticket_actions.last_customer_message_id(ticket)
    db_session.add(Message(
        ticket=ticket, direction=Direction.inbound, channel="email", kind="message",
        external_id="newer@test", identity=_identity(ticket, "email"),
        text="Laat maar, al opgelost!", new_text="Laat maar, al opgelost!",
        created_at=now + timedelta(minutes=5), meta={},
    ))
    db_session.commit()  # as intake would have: the view rolls back its own failed attempt

    warned = _post(client, f"/tickets/{ticket.reference}/reply", text="Mijn concept",
                   seen_message_id=seen)

    assert warned.status_code == 409
    html = warned.get_data(as_text=True)
    assert "The customer wrote again while you were writing." in html
    assert "Laat maar, al opgelost!" in html
    assert ">Mijn concept</textarea>" in html
    assert 'name="confirm"' in html
    assert _replies(db_session) == []

    sent = _post(client, f"/tickets/{ticket.reference}/reply", text="Mijn concept",
                 seen_message_id=seen, confirm="y")
    assert sent.status_code == 302
    assert len(_replies(db_session)) == 1
    assert kicks == [1]


def test_canned_response_is_filled_in_without_javascript(
    client, db_session, agent, ticket, now
):
    canned = CannedResponse(title="Bedankt", language="nl", created_at=now,
                            body="Beste {customer_name}, bedankt ({ticket_ref}). {agent_name}")
    db_session.add(canned)
    db_session.flush()

    page = client.get(f"/tickets/{ticket.reference}").get_data(as_text=True)
    assert f'data-text="Beste Klaas Klant, bedankt ({ticket.reference}). Anna Agent"' in page

    response = _post(client, f"/tickets/{ticket.reference}/reply", text="Eerst dit.",
                     canned_id=canned.id, insert_canned="1")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (f">Eerst dit.\n\nBeste Klaas Klant, bedankt ({ticket.reference}). Anna Agent"
            "</textarea>") in html
    assert _replies(db_session) == []


def test_note_is_added(client, db_session, agent, ticket):
    response = _post(client, f"/tickets/{ticket.reference}/note", text="Vervoerder gebeld")

    assert response.status_code == 302
    assert ticket.messages[-1].direction == Direction.note
    assert "Vervoerder gebeld" in client.get(response.location).get_data(as_text=True)


def test_empty_note_is_refused_with_a_message(client, db_session, agent, ticket):
    response = _post(client, f"/tickets/{ticket.reference}/note", text="")

    assert response.status_code == 302
    assert "The note is empty." in client.get(response.location).get_data(as_text=True)


def test_claim_assign_status_priority_and_tags(client, db_session, agent, make_user, ticket, now):
    colleague = make_user("agent", name="Bert")
    team = Team(name="Logistiek", created_at=now)
    db_session.add(team)
    db_session.flush()
    base = f"/tickets/{ticket.reference}"

    _post(client, f"{base}/claim")
    assert ticket.assignee is agent
    _post(client, f"{base}/assign", assignee_id=colleague.id, team_id=team.id)
    assert (ticket.assignee, ticket.team) == (colleague, team)
    _post(client, f"{base}/status", value="on_hold")
    assert ticket.status == TicketStatus.on_hold
    _post(client, f"{base}/priority", value="urgent")
    assert ticket.priority.value == "urgent"
    _post(client, f"{base}/tags", tags="Retour, schade")
    assert [tag.name for tag in ticket.tags] == ["retour", "schade"]
    html = client.get(base).get_data(as_text=True)
    assert "Assigned to Bert" in html
    assert "Tags: added retour, schade" in html


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("status", {"value": "exploded"}),
        ("priority", {"value": "meh"}),
        ("assign", {"assignee_id": "999999"}),
        ("reply", {"text": "x", "identity_id": "999999"}),
    ],
)
def test_bad_input_is_a_400(client, agent, ticket, path, data):
    assert _post(client, f"/tickets/{ticket.reference}/{path}", **data).status_code == 400


def test_merge_redirects_to_the_survivor(client, db_session, agent, ticket, now):
    other = hand_made_ticket(db_session, ticket, "Nog een mail", now + timedelta(hours=1))

    response = _post(client, f"/tickets/{other.reference}/merge", reference=ticket.reference)

    assert response.location.endswith(f"/tickets/{ticket.reference}")
    assert other.merged_into_id == ticket.id
    html = client.get(response.location).get_data(as_text=True)
    assert f"{other.reference} was merged into this ticket." in html
    assert "Nog een mail" in html


def test_merge_with_another_customers_ticket_is_refused(
    client, db_session, agent, ticket, receive, make_contact
):
    other = receive(make_contact("Ander", sender="ander@example.nl")).ticket

    response = _post(client, f"/tickets/{other.reference}/merge", reference=ticket.reference)

    assert response.location.endswith(f"/tickets/{other.reference}")
    assert other.merged_into_id is None
    assert "different customers" in client.get(response.location).get_data(as_text=True)


def test_merge_into_an_unknown_ticket(client, agent, ticket):
    response = _post(client, f"/tickets/{ticket.reference}/merge", reference="T-999999")

    assert "No ticket with that reference." in client.get(response.location).get_data(
        as_text=True
    )


def test_link_as_repeat(client, db_session, agent, ticket, now):
    # Made by hand: intake itself would already link or append a contact like this one.
    later = Ticket(customer=ticket.customer, subject="Weer hetzelfde", status=TicketStatus.open,
                   channel="email", opened_at=now + timedelta(days=1),
                   updated_at=now + timedelta(days=1), contact_count=1)
    db_session.add(later)
    db_session.flush()

    _post(client, f"/tickets/{later.reference}/repeat-of", reference=ticket.reference)

    assert later.repeat_of_id == ticket.id
    html = client.get(f"/tickets/{later.reference}").get_data(as_text=True)
    assert "contact about this" in html


def test_split_a_message_into_a_new_ticket(client, db_session, agent, ticket, now):
    extra = Message(
        ticket=ticket, direction=Direction.inbound, channel="email", kind="message",
        external_id="extra@test", identity=_identity(ticket, "email"),
        text="Andere vraag over mijn factuur", new_text="Andere vraag over mijn factuur",
        created_at=now + timedelta(minutes=3), meta={},
    )
    db_session.add(extra)
    db_session.flush()
    page = client.get(f"/tickets/{ticket.reference}").get_data(as_text=True)
    assert f'action="/messages/{extra.id}/split"' in page

    response = _post(client, f"/messages/{extra.id}/split")

    new_ticket = db_session.scalar(sa.select(Ticket).order_by(Ticket.id.desc()))
    assert response.location.endswith(f"/tickets/{new_ticket.reference}")
    assert extra.ticket_id == new_ticket.id


def test_actions_need_a_valid_csrf_token(app, client, agent, ticket, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    assert _post(client, f"/tickets/{ticket.reference}/note", text="x").status_code == 400
    assert _post(client, f"/tickets/{ticket.reference}/presence").status_code == 400
