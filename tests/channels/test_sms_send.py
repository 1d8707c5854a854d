"""Sending SMS through the Twilio SDK against a local stand-in of Twilio's Messages API."""

import re
import socket

import pytest

from channels.sms import RedirectingTwilioHttpClient, TwilioSmsAdapter
from tests.support.twilio_standin import TwilioStandIn
from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "secret-token"
SERVICE_SID = "MG" + "2" * 32
FROM_NUMBER = "+3197010000000"
CUSTOMER = Identity(IdentityKind.phone, "+31612345678")
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def standin():
    with TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as running:
        yield running


def make_adapter(api_base_url, **overrides):
    settings = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_base_url": api_base_url,
        "status_callback_url": "https://tickets.example.com/inbound/twilio/status",
        "http_timeout": 5,
    }
    settings.update(overrides)
    adapter = TwilioSmsAdapter(**settings)
    return adapter


@pytest.fixture
def adapter(standin):
    adapter = make_adapter(standin.url)
    yield adapter
    adapter.close()


def message(text="Uw klacht T-1042 is in behandeling.", to=CUSTOMER, **fields):
    return OutboundMessage(channel=Channel.sms, to=to, text=text, **fields)


# --- success -----------------------------------------------------------------------------------


def test_send_from_number_is_accepted_and_recorded(adapter, standin):
    receipt = adapter.send(message())

    assert receipt.accepted
    assert not receipt.permanent
    assert re.fullmatch(r"SM[0-9a-f]{32}", receipt.provider_id)
    assert receipt.status == "queued"
    (request,) = standin.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.field("To") == "+31612345678"
    assert request.field("From") == FROM_NUMBER
    assert request.field("Body") == "Uw klacht T-1042 is in behandeling."
    assert request.field("StatusCallback") == "https://tickets.example.com/inbound/twilio/status"
    assert "MessagingServiceSid" not in request.form


def test_send_through_messaging_service_omits_from(standin):
    adapter = make_adapter(standin.url, from_number=None, messaging_service_sid=SERVICE_SID)
    try:
        receipt = adapter.send(message())
    finally:
        adapter.close()

    assert receipt.accepted
    (request,) = standin.requests
    assert request.field("MessagingServiceSid") == SERVICE_SID
    assert "From" not in request.form


def test_send_through_messaging_service_with_chosen_pool_number(standin):
    adapter = make_adapter(standin.url, messaging_service_sid=SERVICE_SID)
    try:
        adapter.send(message(from_address="+3197010000099"))
    finally:
        adapter.close()

    (request,) = standin.requests
    assert request.field("MessagingServiceSid") == SERVICE_SID
    assert request.field("From") == "+3197010000099"


def test_message_status_callback_overrides_adapter_default(adapter, standin):
    adapter.send(message(status_callback_url="https://other.example/status"))

    assert standin.requests[0].field("StatusCallback") == "https://other.example/status"


def test_no_status_callback_when_none_configured(standin):
    adapter = make_adapter(standin.url, status_callback_url=None)
    try:
        adapter.send(message())
    finally:
        adapter.close()

    assert "StatusCallback" not in standin.requests[0].form


def test_unicode_body_sent_intact(adapter, standin):
    body = "Nog steeds kapot 😡 — €12,50 terug?"

    adapter.send(message(body))

    assert standin.requests[0].field("Body") == body


def test_body_of_exactly_1600_characters_is_sent(adapter, standin):
    receipt = adapter.send(message("x" * 1600))

    assert receipt.accepted
    assert len(standin.requests[0].field("Body")) == 1600


def test_recipient_normalised_to_e164(adapter, standin):
    adapter.send(message(to=Identity(IdentityKind.phone, "06-12 34 56 78")))

    assert standin.requests[0].field("To") == "+31612345678"


# --- refusals by Twilio ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21610, "opted out"),
        (21211, "not a valid phone number"),
        (21614, "not a mobile number"),
        (21999, "HTTP 400"),  # an unknown 4xx is still about the request itself
    ],
)
def test_twilio_400_is_permanent_with_error_code(adapter, standin, code, reason):
    standin.fail_next(400, code=code)

    receipt = adapter.send(message())

    assert not receipt.accepted
    assert receipt.permanent
    assert receipt.error_code == str(code)
    assert reason in receipt.error
    assert receipt.provider_id is None


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, None), (500, 20500), (503, None), (429, 20429), (429, None), (400, 21611)],
)
def test_twilio_overload_or_outage_is_temporary(adapter, standin, status, code):
    standin.fail_next(status, code=code)

    receipt = adapter.send(message())

    assert not receipt.accepted
    assert not receipt.permanent
    assert receipt.error_code == (str(code) if code else None)


def test_temporary_failure_then_retry_succeeds(adapter, standin):
    standin.fail_next(500, times=2)

    first, second, third = (adapter.send(message()) for _ in range(3))

    assert (first.accepted, second.accepted, third.accepted) == (False, False, True)
    assert not first.permanent
    assert not second.permanent
    assert len(standin.requests) == 3


def test_wrong_credentials_are_temporary(standin):
    adapter = make_adapter(standin.url, auth_token="rotated-elsewhere")
    try:
        receipt = adapter.send(message())
    finally:
        adapter.close()

    assert not receipt.accepted
    assert not receipt.permanent
    assert receipt.error_code == "20003"
    assert standin.requests[0].auth == (ACCOUNT_SID, "rotated-elsewhere")


def test_unreachable_twilio_is_temporary():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    adapter = make_adapter(f"http://127.0.0.1:{closed_port}", http_timeout=2)
    try:
        receipt = adapter.send(message())
    finally:
        adapter.close()

    assert not receipt.accepted
    assert not receipt.permanent
    assert "could not reach Twilio" in receipt.error


# --- refusals before asking Twilio -------------------------------------------------------------


def test_body_over_1600_characters_refused_without_calling_twilio(adapter, standin):
    receipt = adapter.send(message("x" * 1601))

    assert not receipt.accepted
    assert receipt.permanent
    assert "1,601 characters" in receipt.error
    assert "1,600" in receipt.error
    assert standin.requests == []


@pytest.mark.parametrize("text", ["", "  \n"])
def test_empty_body_refused(adapter, standin, text):
    receipt = adapter.send(message(text))

    assert receipt.permanent
    assert standin.requests == []


def test_email_recipient_refused(adapter, standin):
    receipt = adapter.send(message(to=Identity(IdentityKind.email, "klant@example.nl")))

    assert receipt.permanent
    assert "phone number" in receipt.error
    assert standin.requests == []


@pytest.mark.parametrize("address", ["not a number", "whatsapp:+31612345678", "+31"])
def test_invalid_recipient_refused(adapter, standin, address):
    receipt = adapter.send(message(to=Identity(IdentityKind.phone, address)))

    assert receipt.permanent
    assert receipt.error_code == "21211"
    assert standin.requests == []


# --- configuration and transport ---------------------------------------------------------------


def test_adapter_needs_a_sender():
    with pytest.raises(ValueError, match="Messaging Service"):
        TwilioSmsAdapter(ACCOUNT_SID, AUTH_TOKEN)


@pytest.mark.parametrize("sender", ["ACME Zorg", "384387"], ids=["sender-id", "short-code"])
def test_non_phone_sender_sent_as_is(standin, sender):
    adapter = make_adapter(standin.url, from_number=sender)
    try:
        adapter.send(message())
    finally:
        adapter.close()

    assert standin.requests[0].field("From") == sender


@pytest.mark.parametrize("from_number", ["ACME-Zorg", "A very long sender", "12"])
def test_bad_sender_rejected_at_configuration(from_number):
    with pytest.raises(ValueError, match="phone number"):
        TwilioSmsAdapter(ACCOUNT_SID, AUTH_TOKEN, from_number=from_number)


def test_adapter_needs_credentials():
    with pytest.raises(ValueError, match="auth token"):
        TwilioSmsAdapter(ACCOUNT_SID, "", from_number=FROM_NUMBER)


def test_adapter_capabilities():
    assert TwilioSmsAdapter.channel is Channel.sms
    assert TwilioSmsAdapter.body_max_length == 1600
    assert not TwilioSmsAdapter.supports_subject
    assert not TwilioSmsAdapter.supports_html


def test_client_without_base_url_uses_twilio_itself():
    adapter = TwilioSmsAdapter(ACCOUNT_SID, AUTH_TOKEN, from_number=FROM_NUMBER)

    assert not isinstance(adapter.client().http_client, RedirectingTwilioHttpClient)
    assert adapter.client() is adapter.client()
    adapter.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Messages.json",
        ),
        (
            "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1",
            "http://127.0.0.1:9999/2010-04-01/Accounts/AC1/Messages.json?x=1",
        ),
        ("https://example.com/media/1", "https://example.com/media/1"),
        ("https://nottwilio.com/x", "https://nottwilio.com/x"),
    ],
)
def test_redirecting_client_rewrites_only_twilio_hosts(url, expected):
    assert RedirectingTwilioHttpClient("http://127.0.0.1:9999").rewrite(url) == expected


def test_redirecting_client_keeps_base_path_prefix():
    client = RedirectingTwilioHttpClient("http://127.0.0.1:9999/twilio/")

    assert (
        client.rewrite("https://api.twilio.com/2010-04-01/Accounts")
        == "http://127.0.0.1:9999/twilio/2010-04-01/Accounts"
    )


def test_redirecting_client_rejects_relative_base():
    with pytest.raises(ValueError, match="base URL"):
        RedirectingTwilioHttpClient("127.0.0.1:9999")


# --- the stand-in itself -----------------------------------------------------------------------


def test_standin_rejects_request_without_recipient(standin):
    adapter = make_adapter(standin.url)
    try:
        response = adapter.client().request(
            "POST", "https://api.twilio.com" + MESSAGES_PATH, data={"Body": "x", "From": "+1"}
        )
    finally:
        adapter.close()

    assert response.status_code == 400
    assert '"code": 21604' in response.text


def test_standin_fail_next_counts_down_and_clear_resets(standin):
    standin.fail_next(500, times=1)
    standin.fail_next(400, code=21610, times=1)
    adapter = make_adapter(standin.url)
    try:
        outcomes = [adapter.send(message()) for _ in range(3)]
        standin.fail_next(500, times=5)
        standin.clear()
        after_clear = adapter.send(message())
    finally:
        adapter.close()

    assert [(r.accepted, r.permanent) for r in outcomes] == [
        (False, False),
        (False, True),
        (True, False),
    ]
    assert after_clear.accepted
    assert len(standin.requests) == 1


def test_standin_url_needs_start():
    with pytest.raises(RuntimeError, match="start"):
        _ = TwilioStandIn().url


def test_standin_fail_next_needs_positive_times(standin):
    with pytest.raises(ValueError, match="times"):
        standin.fail_next(500, times=0)
