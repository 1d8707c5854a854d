"""/admin/inbound: the raw store and the quarantine, processing a record again, dismissing one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing import inbound_parsers
from ticketing.models import InboundRecord, InboundStatus, Message, Ticket
from ticketing.pipeline import ingest_raw

PARSER_BUG = "KeyError: 'charset'"


pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", name="Ada Admin")


@pytest.fixture
def as_admin(client, admin_user, login):
    login(admin_user)
    return client


class FlakyParser:
    """A parser with a bug on its first call that has been fixed by the second."""

    def __init__(self, real: Callable[[InboundRecord], list[Any]]) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, record: InboundRecord) -> list[Any]:
        self.calls += 1
        if self.calls == 1:
            raise KeyError("charset")
        return self.real(record)


def email_input(_user: Any) -> tuple[bytes, dict[str, Any]]:
    raw = (
        b"From: Klant Jansen <jansen@example.nl>\r\n"
        b"To: support@example.org\r\n"
        b"Subject: Lekkende wasmachine\r\n"
        b"Message-ID: <quarantine-1@example.nl>\r\n"
        b"Date: Mon, 02 Mar 2026 08:00:00 +0000\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Mijn nieuwe wasmachine lekt.\r\n"
    )
    return raw, {}


def sms_input(_user: Any) -> tuple[bytes, dict[str, Any]]:
    form = [
        ["MessageSid", "SM" + "7" * 32],
        ["AccountSid", "AC" + "5" * 32],
        ["From", "+31612345678"],
        ["To", "+3197010000001"],
        ["Body", "Mijn pakket is niet bezorgd"],
        ["NumMedia", "0"],
    ]
    body = "&".join(f"{name}={value}" for name, value in form).encode()
    return body, {"url": "https://tickets.example.org/inbound/twilio/sms", "form": form}


def api_input(user: Any) -> tuple[bytes, dict[str, Any]]:
    from ticketing.web.api.tickets import SUBMISSION_FORMAT

    document = {
        "format": SUBMISSION_FORMAT,
        "user_id": user.id,
        "request": {
            "external_id": "shop-4711",
            "customer": {"name": "Pieter de Vries", "email": "pieter@example.nl"},
            "subject": "Bestelling 4711",
            "text": "Het verkeerde formaat geleverd.",
        },
    }
    return json.dumps(document).encode(), {"user_id": user.id}


CHANNEL_INPUTS = {"email": email_input, "sms": sms_input, "api": api_input}


@pytest.fixture
def quarantined(app, db_session, admin_user, intake_settings, now, monkeypatch):
    """Make a record of a channel that a parser bug quarantined; the fix is then in place."""

    def make(channel: str = "email") -> tuple[InboundRecord, FlakyParser]:
        payload, envelope = CHANNEL_INPUTS[channel](admin_user)
        flaky = FlakyParser(inbound_parsers.parser_for(app, channel))
        outcome = ingest_raw(channel, payload, flaky, now=now, settings=intake_settings,
                             source="test", envelope=envelope)
        assert outcome.outcome == "quarantined"
        monkeypatch.setitem(inbound_parsers.RECORD_PARSERS, channel, lambda _app: flaky)
        return db_session.get(InboundRecord, outcome.record_id), flaky

    return make


def flashes(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", text) for text in re.findall(r'<p class="flash[^"]*">(.*?)</p>',
                                                             page, re.S)]


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/inbound"),
        ("get", "/admin/inbound/1"),
        ("post", "/admin/inbound/1/reprocess"),
        ("post", "/admin/inbound/1/dismiss"),
    ],
)
def test_anonymous_visitors_are_sent_to_the_login(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_can_neither_see_nor_act(client, make_user, login, quarantined,
                                                        role):
    record, _parser = quarantined()
    login(make_user(role))

    assert client.get("/admin/inbound").status_code == 403
    assert client.get(f"/admin/inbound/{record.id}").status_code == 403
    assert client.post(f"/admin/inbound/{record.id}/reprocess").status_code == 403
    assert client.post(f"/admin/inbound/{record.id}/dismiss",
                       data={"reason": "spam"}).status_code == 403
    assert record.status == InboundStatus.quarantined


def test_an_unknown_record_is_404(as_admin):
    assert as_admin.get("/admin/inbound/999999").status_code == 404
    assert as_admin.post("/admin/inbound/999999/reprocess").status_code == 404


# --- the quarantine list and record page ---------------------------------------------------------


def test_the_quarantine_lists_records_with_their_reason(as_admin, quarantined):
    record, _parser = quarantined()

    page = as_admin.get("/admin/inbound").text

    assert f'href="/admin/inbound/{record.id}"' in page
    assert PARSER_BUG.replace("'", "&#39;") in page
    assert "quarantined (1)" in page


def test_the_record_page_offers_both_actions_with_csrf(as_admin, quarantined):
    record, _parser = quarantined()

    page = as_admin.get(f"/admin/inbound/{record.id}").text

    assert f'action="/admin/inbound/{record.id}/reprocess"' in page
    assert f'action="/admin/inbound/{record.id}/dismiss"' in page
    assert page.count('name="csrf_token"') >= 3  # logout, process again, dismiss
    assert "Process again" in page
    assert "Mijn nieuwe wasmachine lekt." in page  # the raw content


def test_a_processed_record_offers_no_actions(as_admin, db_session, intake_settings, now, app):
    raw, _envelope = email_input(None)
    outcome = ingest_raw("email", raw, inbound_parsers.parser_for(app, "email"), now=now,
                         settings=intake_settings)
    assert outcome.outcome == "created"

    page = as_admin.get(f"/admin/inbound/{outcome.record_id}").text

    assert "quarantine-actions" not in page


# --- processing again ----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms", "api"])
def test_processing_again_after_a_parser_fix_creates_the_ticket(
    as_admin, db_session, quarantined, admin_user, channel
):
    record, flaky = quarantined(channel)
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 0

    response = as_admin.post(f"/admin/inbound/{record.id}/reprocess")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/inbound/{record.id}")
    db_session.expire_all()
    record = db_session.get(InboundRecord, record.id)
    ticket = db_session.get(Ticket, record.ticket_id)
    assert flaky.calls == 2
    assert record.status == InboundStatus.processed
    assert record.outcome == "created"
    assert ticket is not None
    assert record.resolution == "reprocessed"
    assert record.resolved_by_id == admin_user.id
    assert record.resolution_note == PARSER_BUG
    # The customer's words are on the ticket, linked to the raw record they came from.
    message = db_session.scalar(sa.select(Message).where(Message.ticket_id == ticket.id))
    assert message.inbound_id == record.id
    assert record.processed_at == record.resolved_at > record.received_at

    page = as_admin.get(response.headers["Location"]).text
    assert f"Processed again: created, ticket {ticket.reference}." in flashes(page)
    assert "It had been quarantined because:" in page
    assert "quarantine-actions" not in page


def test_processing_again_that_fails_again_stays_quarantined_with_the_new_reason(
    as_admin, db_session, quarantined, monkeypatch
):
    record, _parser = quarantined()

    def still_broken(_record: InboundRecord) -> list[Any]:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setitem(inbound_parsers.RECORD_PARSERS, "email", lambda _app: still_broken)

    page = as_admin.post(f"/admin/inbound/{record.id}/reprocess", follow_redirects=True).text

    db_session.expire_all()
    record = db_session.get(InboundRecord, record.id)
    assert record.status == InboundStatus.quarantined
    assert record.reason.startswith("UnicodeDecodeError")
    # The release was rolled back with the failed attempt: nothing claims it was resolved.
    assert record.resolution is None
    assert record.resolved_at is None
    assert any(text.startswith("Processed again, and quarantined again: UnicodeDecodeError")
               for text in flashes(page))
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 0


def test_processing_a_record_taken_in_already_is_refused(as_admin, db_session, intake_settings,
                                                         now, app):
    raw, _envelope = email_input(None)
    outcome = ingest_raw("email", raw, inbound_parsers.parser_for(app, "email"), now=now,
                         settings=intake_settings)

    page = as_admin.post(f"/admin/inbound/{outcome.record_id}/reprocess",
                         follow_redirects=True).text

    record = db_session.get(InboundRecord, outcome.record_id)
    assert record.status == InboundStatus.processed
    assert record.resolution is None
    assert ("only a quarantined or dismissed record can be processed again "
            "(this one is processed)") in flashes(page)


def test_a_copy_that_arrived_meanwhile_makes_the_reprocessed_record_a_duplicate(
    as_admin, db_session, quarantined, app, intake_settings, now
):
    record, _parser = quarantined()
    raw, _envelope = email_input(None)
    # The sender's server delivered the same message again, and this time it went through.
    ingest_raw(
        "email", raw, inbound_parsers.parser_for(app, "email"), now=now, settings=intake_settings
    )

    page = as_admin.post(f"/admin/inbound/{record.id}/reprocess", follow_redirects=True).text

    db_session.expire_all()
    assert db_session.get(InboundRecord, record.id).status == InboundStatus.duplicate
    ticket = db_session.scalar(sa.select(Ticket))
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 1
    # The operator is pointed at the ticket that already holds the message.
    assert f"Processed again: duplicate, ticket {ticket.reference}." in flashes(page)


def test_a_channel_without_a_parser_here_is_refused_with_a_message(as_admin, db_session, now,
                                                                   intake_settings):
    def broken(_record: InboundRecord) -> list[Any]:
        raise RuntimeError("no")

    outcome = ingest_raw("fax", b"%PDF", broken, now=now, settings=intake_settings)

    page = as_admin.post(f"/admin/inbound/{outcome.record_id}/reprocess",
                         follow_redirects=True).text

    assert "No parser is known for channel fax." in flashes(page)
    assert db_session.get(InboundRecord, outcome.record_id).status == InboundStatus.quarantined


# --- dismissing ----------------------------------------------------------------------------------


def test_dismissing_keeps_the_raw_bytes_and_leaves_the_quarantine(as_admin, db_session,
                                                                  quarantined, admin_user):
    record, _parser = quarantined()
    payload = bytes(record.payload)

    response = as_admin.post(f"/admin/inbound/{record.id}/dismiss",
                             data={"reason": "Test message from the mail admin"})

    assert response.status_code == 303
    db_session.expire_all()
    record = db_session.get(InboundRecord, record.id)
    assert record.payload == payload
    assert record.reason == PARSER_BUG  # why it was quarantined stays readable
    assert record.status == InboundStatus.ignored
    assert record.outcome == "dismissed"
    assert record.resolution == "dismissed"
    assert record.resolution_note == "Test message from the mail admin"
    assert record.resolved_by_id == admin_user.id
    assert record.resolved_at is not None
    assert record.ticket_id is None

    page = as_admin.get(response.headers["Location"]).text
    assert "Dismissed. The record and its raw content are kept." in flashes(page)
    assert "Test message from the mail admin" in page
    assert "quarantined (0)" in as_admin.get("/admin/inbound").text


def test_dismissing_needs_a_reason(as_admin, db_session, quarantined):
    record, _parser = quarantined()

    response = as_admin.post(f"/admin/inbound/{record.id}/dismiss", data={"reason": "  "})

    assert response.status_code == 422
    assert "Say why the record is dismissed (at most 500 characters)." in flashes(response.text)
    assert db_session.get(InboundRecord, record.id).status == InboundStatus.quarantined


def test_a_dismissed_record_can_still_be_processed_again(as_admin, db_session, quarantined):
    record, _parser = quarantined()
    as_admin.post(f"/admin/inbound/{record.id}/dismiss", data={"reason": "looked like spam"})

    as_admin.post(f"/admin/inbound/{record.id}/reprocess")

    db_session.expire_all()
    record = db_session.get(InboundRecord, record.id)
    assert record.status == InboundStatus.processed
    assert record.ticket_id is not None
    assert record.resolution == "reprocessed"


def test_only_a_quarantined_record_can_be_dismissed(as_admin, db_session, quarantined):
    record, _parser = quarantined()
    as_admin.post(f"/admin/inbound/{record.id}/dismiss", data={"reason": "first"})

    page = as_admin.post(f"/admin/inbound/{record.id}/dismiss", data={"reason": "second"},
                         follow_redirects=True).text

    assert "only a quarantined record can be dismissed (this one is ignored)" in flashes(page)
    assert db_session.get(InboundRecord, record.id).resolution_note == "first"


# --- CSRF ----------------------------------------------------------------------------------------


def test_the_actions_need_the_csrf_token(app, as_admin, db_session, quarantined, monkeypatch):
    record, _parser = quarantined()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    refused = as_admin.post(f"/admin/inbound/{record.id}/dismiss", data={"reason": "spam"})
    assert refused.status_code == 400
    assert db_session.get(InboundRecord, record.id).status == InboundStatus.quarantined

    page = as_admin.get(f"/admin/inbound/{record.id}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    accepted = as_admin.post(f"/admin/inbound/{record.id}/dismiss",
                             data={"reason": "spam", "csrf_token": token})
    assert accepted.status_code == 303
