"""/dev/outbox: admins read what was sent, or would have been, while no provider is configured."""

from __future__ import annotations

import re

import pytest

from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage
from ticketing.models import OutboxMessage, OutboxStatus
from ticketing.services import outbox

pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def as_admin(client, make_user, login):
    login(make_user("admin"))
    return client


def queue(now, channel: str, number: int, *, purpose: str = "reply") -> OutboxMessage:
    if channel == "sms":
        to = Identity(IdentityKind.phone, f"+3161234{number:04d}")
        message = OutboundMessage(Channel.sms, to, f"SMS-tekst {number}")
    else:
        to = Identity(IdentityKind.email, f"klant{number}@example.nl")
        message = OutboundMessage(Channel.email, to, f"Mailtekst {number}",
                                  subject=f"Onderwerp {number}")
    return outbox.enqueue(message, now=now, purpose=purpose)


def listed_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="outbox-(\d+)"', page)]


def row_html(page: str, row_id: int) -> str:
    match = re.search(rf'<tr id="outbox-{row_id}">(.*?)</tr>', page, re.S)
    assert match, f"row {row_id} is not on the page"
    return match.group(1)


def older_link(page: str) -> str | None:
    match = re.search(r'<p class="pagination"><a href="([^"]+)"', page)
    return match.group(1).replace("&amp;", "&") if match else None


# --- access --------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get("/dev/outbox")

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_are_refused(client, make_user, login, role):
    login(make_user(role))

    assert client.get("/dev/outbox").status_code == 403


def test_admins_see_an_empty_outbox(as_admin):
    response = as_admin.get("/dev/outbox")

    assert response.status_code == 200
    assert "Nothing has been sent yet." in response.text


# --- what is listed ------------------------------------------------------------------------------


def test_queued_messages_are_listed_newest_first_with_their_text(as_admin, db_session, now):
    older = queue(now, "email", 1)
    newer = queue(now, "sms", 2, purpose="acknowledgement")
    db_session.commit()

    page = as_admin.get("/dev/outbox").text

    assert listed_ids(page) == [newer.id, older.id]
    mail = row_html(page, older.id)
    assert "klant1@example.nl" in mail
    assert "<strong>Onderwerp 1</strong>" in mail
    assert "Mailtekst 1" in mail
    assert ">pending<" in mail
    text = row_html(page, newer.id)
    assert "+31612340002" in text
    assert "acknowledgement" in text
    assert "SMS-tekst 2" in text


def test_the_channel_filter_shows_one_channel(as_admin, db_session, now):
    mails = [queue(now, "email", n) for n in range(3)]
    texts = [queue(now, "sms", n) for n in range(3, 5)]
    db_session.commit()

    sms_page = as_admin.get("/dev/outbox?channel=sms").text
    email_page = as_admin.get("/dev/outbox?channel=email").text
    everything = as_admin.get("/dev/outbox?channel=fax").text

    assert sorted(listed_ids(sms_page)) == [row.id for row in texts]
    assert sorted(listed_ids(email_page)) == [row.id for row in mails]
    # An unknown channel filters nothing rather than hiding everything.
    assert len(listed_ids(everything)) == 5


def test_keyset_pagination_walks_every_row_once_within_the_filter(
    as_admin, db_session, now, monkeypatch
):
    from ticketing.web import dev

    monkeypatch.setattr(dev, "PAGE_SIZE", 2)
    texts = [queue(now, "sms", n) for n in range(5)]
    for n in range(5, 8):
        queue(now, "email", n)  # interleaved rows of the other channel must not appear
    db_session.commit()

    seen: list[int] = []
    url: str | None = "/dev/outbox?channel=sms"
    pages = 0
    while url:
        page = as_admin.get(url).text
        ids = listed_ids(page)
        assert 0 < len(ids) <= 2
        seen.extend(ids)
        url = older_link(page)
        if url:
            assert "channel=sms" in url
            assert f"before={ids[-1]}" in url
        pages += 1

    assert pages == 3
    assert seen == sorted((row.id for row in texts), reverse=True)


def test_messages_delivered_by_the_development_outbox_are_marked(as_admin, db_session, now):
    from ticketing.jobs import deliver_outbox

    delivered = queue(now, "email", 1)
    db_session.commit()
    # No SMTP server or Twilio account is configured in tests, so delivery ends on this page.
    assert deliver_outbox() == {"sent": 1, "failed": 0, "retrying": 0}
    waiting = queue(now, "sms", 2)
    db_session.commit()

    page = as_admin.get("/dev/outbox").text

    assert db_session.get(OutboxMessage, delivered.id).status == OutboxStatus.sent
    sent_row = row_html(page, delivered.id)
    assert ">sent<" in sent_row
    assert "development outbox" in sent_row
    pending_row = row_html(page, waiting.id)
    assert ">pending<" in pending_row
    assert "development outbox" not in pending_row


def test_failed_attempts_show_their_count_and_error(as_admin, db_session, now):
    from ticketing.domain.contact import DeliveryReceipt

    row = queue(now, "email", 1)
    outbox.record_receipt(row, DeliveryReceipt(accepted=False, error="mailbox unavailable"),
                          now=now, max_attempts=8)
    db_session.commit()

    row_text = row_html(as_admin.get("/dev/outbox").text, row.id)

    assert "1 attempts" in row_text
    assert "mailbox unavailable" in row_text
