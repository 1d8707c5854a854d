"""SMS services: delivery status, opt-out rules, reply preparation, threading and MMS media."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing.domain.contact import (
    ContactKind,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    InboundAttachment,
)
from ticketing.domain.sms import SmsStatusUpdate
from ticketing.models import (
    Attachment,
    CustomerIdentity,
    DeliveryState,
    Direction,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from ticketing.services import outbox
from ticketing.services.media import (
    MAX_FETCH_ATTEMPTS,
    MediaFetchError,
    TwilioMediaFetcher,
    fetch_one,
    media_url_problem,
    pending_media,
    redirect_problem,
)
from ticketing.services.sms import (
    SmsRefused,
    apply_send_receipt,
    apply_status_update,
    ensure_can_text,
    opt_out_refusal,
    prepare_sms_reply,
    sms_draft_info,
    sms_recipient,
)
from ticketing.services.tickets import change_status

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "media-token"
_sids = itertools.count(1)


def sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


@pytest.fixture
def text_in(make_contact, receive):
    """Take in a text from a number at an instant."""

    def do_text(number: str, body: str = "Mijn pakket is niet bezorgd", *, at=NOW, **fields):
        contact = make_contact(body, sender=number, channel="sms", at=at,
                               external_id=sid(), **fields)
        return receive(contact, at=at)

    return do_text


@pytest.fixture
def sent_sms(db_session, text_in):
    """An outbound SMS on a ticket, as the outbox leaves it after Twilio accepted it."""

    def make(number: str, state: DeliveryState | None = DeliveryState.sent) -> Message:
        inbound = text_in(number)
        reply = Message(
            ticket=inbound.ticket, direction=Direction.outbound, channel="sms",
            identity=inbound.message.identity, text="Wij zoeken het uit.",
            provider_id=sid(), delivery_state=state, created_at=NOW,
        )
        db_session.add(reply)
        db_session.flush()
        return reply

    return make


def update(message: Message, status: str, error_code: str | None = None, to=None):
    return SmsStatusUpdate(message_sid=message.provider_id, status=status,
                           error_code=error_code, to=to)


def event_count(db_session, ticket: Ticket, type_: str) -> int:
    return db_session.scalar(
        sa.select(sa.func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.type == type_
        )
    )


# --- delivery status ----------------------------------------------------------------------------


def test_delivered_moves_a_sent_message_on(db_session, sent_sms):
    message = sent_sms("+31612340001")

    outcome = apply_status_update(update(message, "delivered"), now=NOW)

    assert outcome.outcome == "applied"
    assert message.delivery_state == DeliveryState.delivered
    assert message.delivery_updated_at == NOW
    assert message.delivery_error is None


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["queued", "sent", "delivered"])), ids="-".join
)
def test_callbacks_in_any_order_end_delivered(db_session, sent_sms, order):
    message = sent_sms("+31612340002", state=DeliveryState.queued)

    for status in order:
        apply_status_update(update(message, status), now=NOW)

    assert message.delivery_state == DeliveryState.delivered


@pytest.mark.parametrize(
    ("stored", "status", "expected"),
    [
        (DeliveryState.delivered, "sent", DeliveryState.delivered),
        (DeliveryState.delivered, "queued", DeliveryState.delivered),
        (DeliveryState.failed, "sending", DeliveryState.failed),
        (DeliveryState.undelivered, "failed", DeliveryState.undelivered),
        (DeliveryState.read, "delivered", DeliveryState.read),
        (DeliveryState.sent, "sent", DeliveryState.sent),
    ],
)
def test_older_or_equal_status_is_stale(db_session, sent_sms, stored, status, expected):
    message = sent_sms("+31612340003", state=stored)

    outcome = apply_status_update(update(message, status), now=NOW)

    assert outcome.outcome == "stale"
    assert message.delivery_state == expected


def test_undelivered_records_error_code_text_and_one_event(db_session, sent_sms):
    message = sent_sms("+31612340004")

    first = apply_status_update(update(message, "undelivered", "30003"), now=NOW)
    again = apply_status_update(update(message, "undelivered", "30003"), now=NOW)

    assert (first.outcome, again.outcome) == ("applied", "stale")
    assert message.delivery_state == DeliveryState.undelivered
    assert message.delivery_error_code == "30003"
    assert "unreachable" in message.delivery_error
    assert event_count(db_session, message.ticket, "delivery.failed") == 1


def test_late_delivered_receipt_beats_undelivered(db_session, sent_sms):
    message = sent_sms("+31612340005")
    apply_status_update(update(message, "undelivered", "30008"), now=NOW)

    apply_status_update(update(message, "delivered"), now=NOW + timedelta(minutes=5))

    assert message.delivery_state == DeliveryState.delivered
    assert message.delivery_error_code is None
    assert message.delivery_error is None


def test_unknown_code_is_kept_as_a_number(db_session, sent_sms):
    message = sent_sms("+31612340006")

    apply_status_update(update(message, "failed", "63018"), now=NOW)

    assert message.delivery_error == "Twilio error 63018"


def test_21610_records_the_opt_out_on_the_recipient(db_session, sent_sms):
    message = sent_sms("+31612340007")

    outcome = apply_status_update(update(message, "failed", "21610"), now=NOW)

    assert outcome.opted_out
    assert message.identity.opted_out_at == NOW
    assert "21610" in message.identity.opt_out_reason
    assert event_count(db_session, message.ticket, "optout.changed") == 1
    with pytest.raises(SmsRefused, match="opted out"):
        ensure_can_text(message.identity)


def test_21610_for_a_message_we_do_not_know_uses_the_to_number(db_session, text_in):
    number = "+31612340008"
    text_in(number)

    outcome = apply_status_update(
        SmsStatusUpdate(message_sid=sid(), status="failed", error_code="21610", to=number),
        now=NOW,
    )

    assert outcome.outcome == "unknown"
    assert outcome.opted_out
    assert _identity(db_session, number).is_opted_out


def test_status_for_unknown_message_changes_nothing(db_session):
    outcome = apply_status_update(SmsStatusUpdate(message_sid=sid(), status="delivered"), now=NOW)

    assert outcome.outcome == "unknown"
    assert outcome.message is None


def test_inbound_lane_status_is_ignored(db_session, sent_sms):
    message = sent_sms("+31612340009")

    outcome = apply_status_update(update(message, "received"), now=NOW)

    assert outcome.outcome == "ignored"
    assert message.delivery_state == DeliveryState.sent


# --- opt-out enforcement ------------------------------------------------------------------------


def _identity(db_session, number: str) -> CustomerIdentity:
    return db_session.scalar(
        sa.select(CustomerIdentity).where(CustomerIdentity.address == number)
    )


def test_ensure_can_text_names_the_number_date_and_reason(db_session, text_in):
    number = "+31612340010"
    text_in(number)
    text_in(number, "STOP", at=NOW + timedelta(days=1), kind=ContactKind.opt_out)
    identity = _identity(db_session, number)

    with pytest.raises(SmsRefused) as refusal:
        ensure_can_text(identity)

    assert str(refusal.value) == (
        "+31612340010 opted out of text messages on 2026-03-03 (texted 'STOP'); we can text "
        "this number again only after the customer texts START"
    )


def test_ensure_can_text_accepts_a_subscribed_number_and_refuses_none(db_session, text_in):
    number = "+31612340011"
    text_in(number)

    ensure_can_text(_identity(db_session, number))
    with pytest.raises(SmsRefused, match="no phone number"):
        ensure_can_text(None)


def test_opt_in_after_opt_out_allows_texts_again(db_session, text_in):
    number = "+31612340012"
    text_in(number, "STOP", kind=ContactKind.opt_out)
    text_in(number, "START", at=NOW + timedelta(hours=1), kind=ContactKind.opt_in)

    ensure_can_text(_identity(db_session, number))


def test_outbox_row_for_opted_out_number_is_refused_permanently(db_session, text_in):
    number = "+31612340013"
    result = text_in(number)
    row = _queue(db_session, result.ticket, number)
    assert opt_out_refusal(row) is None

    text_in(number, "STOP", kind=ContactKind.opt_out)
    refusal = opt_out_refusal(row)

    assert refusal is not None
    assert refusal.permanent
    assert refusal.error_code == "21610"
    assert "opted out" in refusal.error


def test_opt_out_refusal_leaves_email_and_unknown_numbers_alone(db_session, text_in):
    result = text_in("+31612340014")
    unknown = _queue(db_session, result.ticket, "+31612340099")
    mail = OutboxMessage(channel="email", recipient="klant@example.nl", payload={})

    assert opt_out_refusal(unknown) is None
    assert opt_out_refusal(mail) is None


def test_send_refused_with_21610_records_the_opt_out(db_session, text_in):
    number = "+31612340015"
    result = text_in(number)
    row = _queue(db_session, result.ticket, number)
    refused = DeliveryReceipt(accepted=False, error_code="21610", error="opted out",
                              permanent=True)

    assert apply_send_receipt(row, refused, now=NOW)
    assert not apply_send_receipt(row, refused, now=NOW)  # already recorded
    assert _identity(db_session, number).is_opted_out
    assert event_count(db_session, result.ticket, "optout.changed") == 1


def test_other_send_refusals_record_no_opt_out(db_session, text_in):
    number = "+31612340016"
    result = text_in(number)
    row = _queue(db_session, result.ticket, number)

    apply_send_receipt(row, DeliveryReceipt(accepted=False, error_code="21211"), now=NOW)
    apply_send_receipt(row, DeliveryReceipt(accepted=True, provider_id="SM1"), now=NOW)

    assert not _identity(db_session, number).is_opted_out


def _queue(db_session, ticket: Ticket, number: str) -> OutboxMessage:
    from ticketing.domain.contact import Channel, OutboundMessage

    outbound = OutboundMessage(
        channel=Channel.sms, to=Identity(IdentityKind.phone, number), text="Antwoord"
    )
    return outbox.enqueue(outbound, now=NOW, ticket=ticket)


# --- preparing replies --------------------------------------------------------------------------


def test_reply_goes_to_the_number_the_customer_last_texted_from(db_session, text_in, make_contact,
                                                               receive):
    first = text_in("+31612340020", "Mijn pakket is kapot")
    # The customer gave a second number on the web form; then texted from it on this ticket.
    ticket = first.ticket
    second = CustomerIdentity(customer=ticket.customer, kind="phone", address="+31612340021",
                              created_at=NOW)
    db_session.add(second)
    db_session.flush()
    db_session.add(Message(ticket=ticket, direction=Direction.inbound, channel="sms",
                           identity=second, external_id=sid(), text="Vanaf mijn werk",
                           created_at=NOW + timedelta(minutes=1)))
    db_session.flush()

    outbound = prepare_sms_reply(ticket, "Wij sturen een nieuw pakket.")

    assert sms_recipient(ticket).address == "+31612340021"
    assert outbound.to.address == "+31612340021"
    assert outbound.channel.value == "sms"
    assert outbound.ticket_ref == ticket.reference
    assert outbound.text == "Wij sturen een nieuw pakket."


def test_reply_on_a_mail_ticket_uses_the_customers_phone(db_session, make_contact, receive):
    web = make_contact(
        "Klacht via het formulier", sender="piet@example.nl", channel="web",
        other_identities=(Identity(IdentityKind.phone, "+31612340022"),),
    )
    ticket = receive(web).ticket

    outbound = prepare_sms_reply(ticket, "Wij bellen u morgen.")

    assert outbound.to.address == "+31612340022"


def test_reply_without_any_phone_number_is_refused(db_session, make_contact, receive):
    ticket = receive(make_contact("Alleen mail", sender="alleenmail@example.nl")).ticket

    with pytest.raises(SmsRefused, match="no phone number"):
        prepare_sms_reply(ticket, "Hallo")


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "empty"), ("x" * 1601, "1,601 characters; one text carries at most 1,600")],
)
def test_unsendable_reply_text_is_refused(db_session, text_in, text, message):
    ticket = text_in("+31612340023").ticket

    with pytest.raises(SmsRefused, match=message):
        prepare_sms_reply(ticket, text)


@pytest.mark.parametrize(
    ("text", "segments", "encoding", "too_long"),
    [
        ("", 0, "GSM-7", False),
        ("Uw pakket komt morgen.", 1, "GSM-7", False),
        ("a" * 160, 1, "GSM-7", False),
        ("a" * 161, 2, "GSM-7", False),
        ("Sorry 😔", 1, "UCS-2", False),
        ("€" * 80, 1, "GSM-7", False),  # the euro sign costs two septets: 160 fit
        ("€" * 81, 2, "GSM-7", False),
        ("ë" * 71, 2, "UCS-2", False),
        ("a" * 1601, 11, "GSM-7", True),
    ],
    ids=lambda value: value[:12] if isinstance(value, str) else str(value),
)
def test_draft_info_counts_segments_for_the_composer(text, segments, encoding, too_long):
    # (ids are the expected outcome; the texts themselves make unreadable test names)
    info = sms_draft_info(text)

    assert (info.segments, info.encoding, info.too_long) == (segments, encoding, too_long)
    assert info.as_dict()["characters"] == len(text)
    assert info.max_characters == 1600


# --- threading ----------------------------------------------------------------------------------


def test_text_from_a_number_with_an_open_ticket_appends(db_session, text_in):
    first = text_in("+31612340030", "Mijn pakket is niet bezorgd")

    second = text_in("+31612340030", "Nog steeds niets", at=NOW + timedelta(hours=2))

    assert second.outcome == "appended"
    assert second.ticket.id == first.ticket.id
    assert "+31612340030" in second.reason
    assert first.ticket.contact_count == 2


def test_text_after_solve_within_reopen_window_reopens(db_session, text_in, intake_settings):
    first = text_in("+31612340031")
    change_status(first.ticket, TicketStatus.solved, now=NOW + timedelta(hours=1))

    later = NOW + intake_settings.reopen_window - timedelta(hours=1)
    second = text_in("+31612340031", "Toch weer kapot", at=later)

    assert second.outcome == "appended"
    assert second.ticket.id == first.ticket.id
    assert second.ticket.status == TicketStatus.open
    assert "reopened" in second.reason


def test_text_after_reopen_window_opens_a_new_linked_ticket(db_session, text_in,
                                                           intake_settings):
    first = text_in("+31612340032")
    change_status(first.ticket, TicketStatus.solved, now=NOW + timedelta(hours=1))

    later = NOW + timedelta(hours=1) + intake_settings.reopen_window + timedelta(days=1)
    second = text_in("+31612340032", "Een nieuw probleem", at=later)

    assert second.outcome == "created"
    assert second.ticket.id != first.ticket.id
    assert second.ticket.repeat_of_id == first.ticket.id
    assert first.ticket.status == TicketStatus.solved


def test_text_from_an_unknown_number_opens_a_new_ticket(db_session, text_in):
    first = text_in("+31612340033")
    other = text_in("+31612340034")

    assert other.outcome == "created"
    assert other.ticket.customer_id != first.ticket.customer_id


def test_mail_web_form_and_text_are_one_customer(db_session, make_contact, receive, text_in):
    mail = receive(make_contact("Factuur klopt niet", sender="marie@example.nl"))
    web = receive(make_contact(
        "Zie ook mijn mail", sender="marie@example.nl", channel="web",
        at=NOW + timedelta(hours=1),
        other_identities=(Identity(IdentityKind.phone, "+31612340035"),),
    ))

    text = text_in("+31612340035", "Al iets bekend over mijn factuur?",
                   at=NOW + timedelta(hours=2))

    customer = mail.ticket.customer
    assert web.ticket.customer_id == customer.id
    assert text.ticket.customer_id == customer.id
    assert {i.address for i in customer.identities} == {"marie@example.nl", "+31612340035"}


# --- MMS media: the SSRF guard ------------------------------------------------------------------

MEDIA_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"https://api.twilio.com{MEDIA_PATH}", None),
        (f"https://api.dublin.ie1.twilio.com{MEDIA_PATH}", None),
        (f"https://api.twilio.com:443{MEDIA_PATH}", None),
        (f"http://api.twilio.com{MEDIA_PATH}", "only https"),
        (f"https://api.twilio.com.evil.example{MEDIA_PATH}", "not Twilio's API host"),
        (f"https://evil.example{MEDIA_PATH}", "not Twilio's API host"),
        (f"https://user:pw@api.twilio.com{MEDIA_PATH}", "credentials"),
        (f"https://api.twilio.com:8443{MEDIA_PATH}", "port 8443"),
        (f"https://169.254.169.254{MEDIA_PATH}", "IP address"),
        (f"https://[::1]{MEDIA_PATH}", "IP address"),
        (MEDIA_PATH.replace(ACCOUNT_SID, "AC" + "0" * 32).join(["https://api.twilio.com", ""]),
         "not a message of our Twilio account"),
        (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1.json",
         "not a media resource"),
        ("cat.jpg", "only https"),
        ("file:///etc/passwd", "only https"),
    ],
)
def test_media_url_guard(url, problem):
    found = media_url_problem(url, ACCOUNT_SID)

    if problem is None:
        assert found is None
    else:
        assert problem in found


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://mms.twiliocdn.com/AC1/abc?Expires=1", True),
        ("https://media.twiliocdn.com/AC1/abc", True),
        ("https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc", True),
        ("https://s3-external-1.amazonaws.com/someone-elses-bucket/abc", False),
        ("http://mms.twiliocdn.com/AC1/abc", False),
        ("https://127.0.0.1/latest/meta-data", False),
        ("https://metadata.google.internal/computeMetadata", False),
        ("https://twiliocdn.com.evil.example/x", False),
    ],
)
def test_redirect_guard(url, allowed):
    assert (redirect_problem(url) is None) is allowed


# --- MMS media: fetching ------------------------------------------------------------------------


class MediaServer:
    """Twilio's media URLs and CDN on 127.0.0.1, reached through the fetcher's api_base_url."""

    content = b"\xff\xd8\xff\xe0 a small jpeg " * 64

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MediaServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Authorization")))
                owner.answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        if path.startswith("/2010-04-01/"):
            # Twilio's media URL: needs our credentials, redirects to the CDN.
            name = path.rsplit("/", 1)[-1]
            if name == "missing":
                return self._send(handler, 404, b"not found")
            if name == "broken":
                return self._send(handler, 503, b"try later")
            if name == "escape":
                return self._redirect(handler, "http://169.254.169.254/latest/meta-data")
            if name == "loop":
                return self._redirect(handler, path)
            return self._redirect(handler, f"https://mms.twiliocdn.com/{name}?Expires=1")
        if path.startswith("/ME") or path.startswith("/big"):
            if path.startswith("/big"):
                return self._send(handler, 200, b"x" * 5000, "image/png")
            return self._send(handler, 200, self.content, "image/jpeg")
        return self._send(handler, 404, b"not found")

    @staticmethod
    def _send(handler, status: int, body: bytes, content_type: str = "text/plain") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _redirect(handler, location: str) -> None:
        handler.send_response(307)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    with MediaServer() as server:
        yield server


@pytest.fixture
def fetcher(media_server) -> TwilioMediaFetcher:
    return TwilioMediaFetcher(ACCOUNT_SID, AUTH_TOKEN, max_bytes=4096,
                              api_base_url=media_server.url, timeout=5)


def media_url(name: str) -> str:
    return (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'1' * 32}"
            f"/Media/{name}")


def test_fetch_follows_twilio_redirect_and_sends_credentials_to_twilio_only(fetcher,
                                                                            media_server):
    media = fetcher.fetch(media_url("ME" + "3" * 32))

    assert media.data == MediaServer.content
    assert media.content_type == "image/jpeg"
    (api_path, api_auth), (cdn_path, cdn_auth) = media_server.requests
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert api_auth == expected
    assert cdn_path.startswith("/ME")
    assert cdn_auth is None


@pytest.mark.parametrize(
    ("name", "reason", "permanent"),
    [
        ("missing", "HTTP 404", True),
        ("broken", "HTTP 503", False),
        ("escape", "only https", True),
        ("loop", "redirects", True),
        ("big", "limit is 4,096 bytes", True),
    ],
)
def test_fetch_failures_say_why_and_whether_to_retry(fetcher, name, reason, permanent):
    with pytest.raises(MediaFetchError) as failure:
        fetcher.fetch(media_url(name))

    assert reason in failure.value.reason
    assert failure.value.permanent is permanent


def test_fetch_refuses_foreign_urls_without_a_request(fetcher, media_server):
    with pytest.raises(MediaFetchError, match="not Twilio's API host"):
        fetcher.fetch("https://internal.example/2010-04-01/Accounts/x/Messages/y/Media/z")

    assert media_server.requests == []


def test_unreachable_host_is_a_temporary_failure(media_server):
    dead = TwilioMediaFetcher(ACCOUNT_SID, AUTH_TOKEN, max_bytes=4096,
                              api_base_url="http://127.0.0.1:9", timeout=2)

    with pytest.raises(MediaFetchError) as failure:
        dead.fetch(media_url("ME" + "4" * 32))

    assert not failure.value.permanent


@pytest.fixture
def mms(db_session, make_contact, receive):
    """Take in an MMS whose media point at the given names."""

    def take_in(*names: str) -> Message:
        attachments = tuple(
            InboundAttachment(filename=f"{name}.jpg", content_type="image/jpeg",
                              url=media_url(name))
            for name in names
        )
        contact = make_contact("", sender="+31612340040", channel="sms", external_id=sid("MM"),
                               attachments=attachments)
        return receive(contact).message

    return take_in


def test_fetched_media_lands_in_attachment_storage(db_session, mms, fetcher, tmp_path):
    from ticketing.services.attachments import AttachmentStore

    message = mms("ME" + "5" * 32)
    store = AttachmentStore(tmp_path)
    (item,) = pending_media(message_id=message.id)

    assert fetch_one(item, fetcher, store=store) == "stored"

    (attachment,) = message.attachments
    assert store.get(attachment.sha256) == MediaServer.content
    assert attachment.size == len(MediaServer.content)
    assert attachment.error is None
    assert pending_media(message_id=message.id) == []


def test_permanent_failure_is_recorded_once_and_the_message_kept(db_session, mms, fetcher,
                                                                tmp_path):
    from ticketing.services.attachments import AttachmentStore

    message = mms("missing")
    (item,) = pending_media(message_id=message.id)

    assert fetch_one(item, fetcher, store=AttachmentStore(tmp_path)) == "failed"

    (attachment,) = message.attachments
    assert attachment.error == "media fetch failed: Twilio answered HTTP 404 Not Found"
    assert attachment.fetch_attempts == MAX_FETCH_ATTEMPTS
    assert attachment.url == media_url("missing")
    assert pending_media(message_id=message.id) == []
    assert db_session.get(Message, message.id) is not None


def test_temporary_failure_is_retried_up_to_the_limit(db_session, mms, fetcher, tmp_path):
    from ticketing.services.attachments import AttachmentStore

    message = mms("broken")
    store = AttachmentStore(tmp_path)
    errors = []
    for _attempt in range(MAX_FETCH_ATTEMPTS):
        (item,) = pending_media(message_id=message.id)
        fetch_one(item, fetcher, store=store)
        errors.append(message.attachments[0].error)

    assert pending_media(message_id=message.id) == []
    assert errors[0].endswith("(attempt 1, will retry)")
    assert errors[-1] == "media fetch failed: Twilio answered HTTP 503 Service Unavailable"


def test_fetch_job_does_nothing_without_credentials(db_session, app, mms):
    from ticketing.jobs_sms import fetch_sms_media

    assert app.config["TWILIO_ACCOUNT_SID"] is None
    message = mms("ME" + "6" * 32)

    assert fetch_sms_media(message.id) == {"stored": 0, "failed": 0, "gone": 0}
    assert db_session.get(Attachment, message.attachments[0].id).fetch_attempts == 0


def test_fetch_job_fetches_with_credentials(db_session, app, mms, media_server, monkeypatch):
    from ticketing.jobs_sms import fetch_sms_media

    monkeypatch.setitem(app.config, "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setitem(app.config, "TWILIO_API_BASE_URL", media_server.url)
    message = mms("ME" + "7" * 32, "missing")

    summary = fetch_sms_media(message.id)

    assert summary == {"stored": 1, "failed": 1, "gone": 0}
    stored, failed = message.attachments
    assert stored.sha256 is not None
    assert "HTTP 404" in failed.error
