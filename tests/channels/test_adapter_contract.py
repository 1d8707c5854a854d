"""Every channel adapter keeps the same promises: one contract, run against each of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from channels.base import ChannelAdapter
from ticketing.domain.contact import (
    Channel,
    Contact,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    InboundRequest,
    InvalidInbound,
    OutboundMessage,
)

RECEIVED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SAMPLE_MAIL = (
    b"From: Anna de Vries <Anna@Example.nl>\r\nTo: support@example.org\r\n"
    b"Subject: Pakket kwijt\r\nMessage-ID: <abc123@example.nl>\r\n"
    b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Mijn pakket is weer niet bezorgd.\r\n"
)
SMS_FORM = {
    "MessageSid": "SM" + "a" * 32, "SmsSid": "SM" + "a" * 32, "AccountSid": "AC" + "b" * 32,
    "From": "+31612345678", "To": "+3197010000000", "Body": "Nog steeds geen pakket",
    "NumMedia": "0", "NumSegments": "1",
}


def _email():
    from channels.email import EmailAdapter

    return EmailAdapter(), InboundRequest(
        Channel.email, SAMPLE_MAIL, received_at=RECEIVED)


def _sms():
    from channels.sms import TwilioSmsAdapter

    adapter = TwilioSmsAdapter("AC" + "b" * 32, "token", from_number="+3197010000000")
    return adapter, InboundRequest(Channel.sms, urlencode(SMS_FORM).encode(), form=SMS_FORM,
                                   received_at=RECEIVED)


def _web():
    from channels.webform import WebFormAdapter

    form = {"submission_id": "sub-1", "name": "Anna", "email": "anna@example.nl",
            "phone": "06 12345678", "message": "Kapot", "category": "product"}
    return WebFormAdapter("NL"), InboundRequest(Channel.web, json.dumps(form).encode(),
                                                form=form, received_at=RECEIVED)


def _memory():
    from channels.memory import MemoryAdapter

    body = json.dumps({"id": "m-1", "from": "a@example.org", "text": "hallo"}).encode()
    return MemoryAdapter(), InboundRequest(Channel.memory, body, received_at=RECEIVED)


ADAPTERS = {"email": _email, "sms": _sms, "web": _web, "memory": _memory}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter_and_sample(request):
    return ADAPTERS[request.param]()


def test_declares_its_channel_and_capabilities(adapter_and_sample):
    adapter, sample = adapter_and_sample
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.channel == sample.channel
    for capability in ("supports_html", "supports_attachments", "supports_subject"):
        assert isinstance(getattr(type(adapter), capability), bool)


def test_parses_a_sample_into_valid_contacts(adapter_and_sample):
    adapter, sample = adapter_and_sample
    contacts = adapter.parse_inbound(sample)
    assert contacts
    for contact in contacts:
        assert isinstance(contact, Contact)
        assert contact.channel == adapter.channel
        assert contact.external_id
        assert contact.received_at.tzinfo is not None
        assert isinstance(contact.sender, Identity)
        if contact.sender.kind == IdentityKind.email:
            assert contact.sender.address == contact.sender.address.lower()
        else:
            assert contact.sender.address.startswith("+")


def test_parsing_twice_gives_the_same_external_id(adapter_and_sample):
    adapter, sample = adapter_and_sample
    first = [c.external_id for c in adapter.parse_inbound(sample)]
    assert first == [c.external_id for c in adapter.parse_inbound(sample)]


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe garbage", b"{}"])
def test_garbage_raises_invalid_inbound_and_nothing_else(adapter_and_sample, garbage):
    adapter, sample = adapter_and_sample
    bad = InboundRequest(sample.channel, garbage, form={}, received_at=RECEIVED)
    with pytest.raises(InvalidInbound) as error:
        adapter.parse_inbound(bad)
    assert error.value.reason


def test_send_answers_with_a_receipt_without_raising(adapter_and_sample):
    """A refusal or an unreachable provider is a receipt, never an exception.

    Real deliveries are tested against aiosmtpd (test_email_smtp) and the Twilio stand-in
    (test_sms_send); here the e-mail adapter has no SMTP server and the SMS adapter's API is a
    closed port on loopback.
    """
    adapter, _sample = adapter_and_sample
    if adapter.channel == Channel.sms:
        from channels.sms import TwilioSmsAdapter

        adapter = TwilioSmsAdapter("AC" + "b" * 32, "token", from_number="+3197010000000",
                                   api_base_url="http://127.0.0.1:9", http_timeout=2)
        to = Identity(IdentityKind.phone, "+31612345678")
    else:
        to = Identity(IdentityKind.email, "anna@example.nl")
    receipt = adapter.send(OutboundMessage(channel=adapter.channel, to=to, text="Hallo"))
    assert isinstance(receipt, DeliveryReceipt)
    if adapter.channel in (Channel.email, Channel.sms):
        assert not receipt.accepted
        assert receipt.error
