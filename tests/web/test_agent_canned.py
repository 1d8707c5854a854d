"""Canned responses: placeholders, languages and validation."""

from __future__ import annotations

import pytest

from ticketing.models import CannedResponse, Customer, Ticket, TicketStatus
from ticketing.services import canned
from ticketing.services.canned import CannedError


@pytest.fixture
def agent(make_user, monkeypatch):
    from werkzeug.security import generate_password_hash

    from ticketing.services import accounts

    # Canned texts need a name, not a real password hash (scrypt costs 0.3 s).
    monkeypatch.setattr(accounts, "generate_password_hash",
                        lambda password, method="": generate_password_hash(
                            password, method="pbkdf2:sha256:1000"))
    return make_user("agent", name="Anna Agent")


@pytest.fixture
def ticket(db_session, now):
    customer = Customer(name=None, language="en", created_at=now)
    ticket = Ticket(customer=customer, subject="Refund", status=TicketStatus.open,
                    channel="email", language=None, opened_at=now, updated_at=now)
    db_session.add(ticket)
    db_session.flush()
    return ticket


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Dear {customer_name}, about {ticket_ref}. {agent_name}",
         "Dear Kim, about T-7. Anna"),
        ("Braces stay: {order_number} {}", "Braces stay: {order_number} {}"),
        ("{customer_name}{customer_name}", "KimKim"),
        ("{{customer_name}}", "{Kim}"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_fill_placeholders_replaces_only_known_names(body, expected):
    values = {"customer_name": "Kim", "ticket_ref": "T-7", "agent_name": "Anna"}

    assert canned.fill_placeholders(body, values) == expected


def test_a_customer_without_a_name_is_addressed_in_the_canned_language(ticket, agent):
    assert canned.placeholder_values(ticket, agent, "nl")["customer_name"] == "klant"
    assert canned.placeholder_values(ticket, agent, "en")["customer_name"] == "customer"


def test_responses_in_the_customers_language_come_first(db_session, ticket, agent, now):
    canned.save_canned(title="Bedankt", language="nl", body="Dank, {customer_name}", now=now)
    canned.save_canned(title="Thanks", language="en", body="Thanks, {customer_name}", now=now)
    canned.save_canned(title="Apology", language="en", body="Sorry about {ticket_ref}", now=now)

    filled = canned.canned_for_ticket(ticket, agent, default_language="nl")

    assert [(item.language, item.title) for item in filled] == [
        ("en", "Apology"), ("en", "Thanks"), ("nl", "Bedankt"),
    ]
    assert filled[0].text == f"Sorry about {ticket.reference}"
    assert filled[2].text == "Dank, klant"


def test_reply_language_falls_back_from_ticket_to_customer_to_default(ticket):
    assert canned.reply_language(ticket, "nl") == "en"
    ticket.customer.language = "de"
    assert canned.reply_language(ticket, "nl") == "nl"
    ticket.language = "en"
    assert canned.reply_language(ticket, "nl") == "en"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": " ", "language": "nl", "body": "x"}, "title"),
        ({"title": "A", "language": "de", "body": "x"}, "language"),
        ({"title": "A", "language": "nl", "body": "  "}, "text"),
        ({"title": "A", "language": "nl", "body": "Hi {first_name}"}, "{first_name}"),
    ],
)
def test_save_canned_refuses_bad_input(db_session, now, fields, message):
    with pytest.raises(CannedError, match=message):
        canned.save_canned(now=now, **fields)


def test_save_canned_refuses_a_duplicate_title_per_language(db_session, now):
    first = canned.save_canned(title="Bedankt", language="nl", body="Dank", now=now)
    canned.save_canned(title="Bedankt", language="en", body="Thanks", now=now)

    with pytest.raises(CannedError, match="already"):
        canned.save_canned(title="Bedankt", language="nl", body="Nog eens", now=now)
    updated = canned.save_canned(title="Bedankt", language="nl", body="Dank je\r\nwel", now=now,
                                 canned=first)
    assert updated is first
    assert first.body == "Dank je\nwel"


def test_fill_canned_of_an_unknown_id_is_none(db_session, ticket, agent):
    assert canned.fill_canned(987654, ticket, agent) is None
    assert db_session.get(CannedResponse, 987654) is None
