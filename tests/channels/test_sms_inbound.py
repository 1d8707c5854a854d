"""Inbound Twilio SMS/MMS webhooks to Contacts, over the courier and Zammad payload corpora."""

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from werkzeug.datastructures import MultiDict

from channels.sms import TwilioSmsAdapter
from ticketing.domain.contact import (
    Channel,
    ContactKind,
    Identity,
    IdentityKind,
    InboundRequest,
    InvalidInbound,
)

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
COURIER = {
    payload["id"]: payload
    for payload in json.loads(
        (CORPORA / "nyaruka-courier-twilio-payloads" / "payloads.json").read_text()
    )["payloads"]
}
ZAMMAD_FILES = sorted((CORPORA / "zammad" / "twilio").glob("*.json"))
RECEIVED_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
COURIER_SID = "SMe287d7109a5a925f182f0e07fe5b223b"


@pytest.fixture
def adapter():
    return TwilioSmsAdapter("AC" + "0" * 32, "token", from_number="+31201234567")


def request_for(form=None, body=b""):
    return InboundRequest(channel=Channel.sms, body=body, form=form or {}, received_at=RECEIVED_AT)


def courier_request(payload_id):
    form_body = COURIER[payload_id]["form_body"]
    return request_for(
        MultiDict(parse_qsl(form_body, keep_blank_values=True)), form_body.encode("utf-8")
    )


def base_form(**fields):
    form = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": "AC" + "b" * 32,
        "From": "+31612345678",
        "To": "+31201234567",
        "Body": "Mijn pakket is weer niet bezorgd",
        "NumMedia": "0",
        "NumSegments": "1",
    }
    form.update(fields)
    return {key: value for key, value in form.items() if value is not None}


# --- the corpora -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_id", "text"),
    [
        ("receiveValid", "Msg"),
        ("receiveButtonIgnored", "Msg"),  # courier ignores ButtonText on SMS; so do we
        ("receiveMediaWithMsg", "Msg"),
        ("receiveMedia", ""),
        # courier guesses base64 and decodes; a Twilio-native parser keeps what was sent
        ("receiveBase64", COURIER["receiveBase64"]["params"]["Body"]),
    ],
)
def test_courier_inbound_payload_becomes_sms_contact(adapter, payload_id, text):
    (contact,) = adapter.parse_inbound(courier_request(payload_id))

    assert contact.channel is Channel.sms
    assert contact.external_id == COURIER_SID
    assert contact.sender == Identity(IdentityKind.phone, "+14133881111")
    assert contact.received_at == RECEIVED_AT
    assert contact.text == contact.new_text == text
    assert contact.kind is ContactKind.message
    assert contact.metadata["to"] == "+12028831111"
    assert contact.metadata["from_city"] == "CHICOPEE"
    assert contact.metadata["from_country"] == "US"
    assert contact.metadata["num_segments"] == 1


@pytest.mark.parametrize("payload_id", ["receiveMedia", "receiveMediaWithMsg"])
def test_courier_mms_media_become_remote_attachments(adapter, payload_id):
    (contact,) = adapter.parse_inbound(courier_request(payload_id))

    assert [a.url for a in contact.attachments] == ["cat.jpg", "dog.jpg"]
    assert [a.filename for a in contact.attachments] == ["cat.jpg", "dog.jpg"]
    assert all(a.data is None for a in contact.attachments)
    # courier's payload declares no MediaContentTypeN
    assert all(a.content_type == "application/octet-stream" for a in contact.attachments)
    assert contact.defects == ()


def test_courier_short_code_messaging_service_payload(adapter):
    (contact,) = adapter.parse_inbound(courier_request("tmsReceiveExtra"))

    assert contact.external_id == "SMbbf29aeb9d380ce2a1c0ae4635ff9dab"
    assert contact.text == "John Cruz"
    assert contact.metadata["to"] == "384387"
    assert contact.metadata["from_city"] == "RALEIGH"


@pytest.mark.parametrize(
    "payload_id",
    [
        "waReceiveValid",
        "waReceiveBSUIDValid",
        "waReceiveFromBSUID",
        "waReceiveBSUIDInvalid",
        "waReceiveButtonValid",
    ],
)
def test_courier_whatsapp_payload_is_refused_with_reason(adapter, payload_id):
    with pytest.raises(InvalidInbound, match="WhatsApp is not a configured channel"):
        adapter.parse_inbound(courier_request(payload_id))


def test_courier_whatsapp_payload_without_prefix_reads_as_sms(adapter):
    (contact,) = adapter.parse_inbound(courier_request("waReceivePrefixlessURN"))

    assert contact.sender.address == "+14133881111"
    assert contact.external_id == "SM681a1f26d9ec591431ce406e8f399525"


def test_every_courier_inbound_payload_is_handled(adapter):
    inbound = [p for p in COURIER.values() if p["kind"].startswith("inbound")]
    assert len(inbound) == 12
    for payload in inbound:
        if payload["kind"] == "inbound-whatsapp" and "whatsapp:" in payload["params"]["From"]:
            with pytest.raises(InvalidInbound):
                adapter.parse_inbound(courier_request(payload["id"]))
        else:
            (contact,) = adapter.parse_inbound(courier_request(payload["id"]))
            assert contact.external_id == payload["params"]["MessageSid"]


@pytest.mark.parametrize("path", ZAMMAD_FILES, ids=lambda p: p.name)
def test_zammad_inbound_payload_becomes_sms_contact(adapter, path):
    params = json.loads(path.read_text())

    (contact,) = adapter.parse_inbound(request_for(params))

    assert contact.external_id == params["MessageSid"]
    assert contact.sender == Identity(IdentityKind.phone, "+491710000000")
    assert contact.text == params["Body"]
    assert contact.metadata == {
        "to": "+4915700000000",
        "account_sid": "AC78349f4b974f5f6907c513a77d96756d",
        "num_segments": 1,
        "from_country": "DE",
    }


def test_zammad_corpus_has_three_payloads():
    assert len(ZAMMAD_FILES) == 3


# --- form shapes -------------------------------------------------------------------------------


def test_raw_body_decoded_when_form_not_given(adapter):
    form_body = COURIER["receiveValid"]["form_body"].encode("utf-8")

    from_body = adapter.parse_inbound(request_for(body=form_body))
    from_form = adapter.parse_inbound(courier_request("receiveValid"))

    assert from_body == from_form


def test_dict_of_lists_form_accepted(adapter):
    form = {key: [value] for key, value in base_form().items()}

    (contact,) = adapter.parse_inbound(request_for(form))

    assert contact.text == "Mijn pakket is weer niet bezorgd"


def test_non_utf8_raw_body_is_invalid(adapter):
    with pytest.raises(InvalidInbound, match="UTF-8"):
        adapter.parse_inbound(request_for(body=b"Body=\xff"))


# --- body, keywords, media ---------------------------------------------------------------------


def test_body_kept_intact_with_emoji_and_1600_characters(adapter):
    body = ("  Nog steeds geen reactie 😡\n" * 100)[:1600]

    (contact,) = adapter.parse_inbound(request_for(base_form(Body=body)))

    assert contact.text == contact.new_text == body
    assert len(contact.text) == 1600


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", ContactKind.opt_out),
        (" stop \n", ContactKind.opt_out),
        ("Unsubscribe", ContactKind.opt_out),
        ("START", ContactKind.opt_in),
        ("unstop", ContactKind.opt_in),
        ("HELP", ContactKind.help),
        ("info", ContactKind.help),
        ("STOP please", ContactKind.message),
        ("Please stop sending", ContactKind.message),
        ("AFMELDEN", ContactKind.message),  # Dutch words are opt-in config, not default
    ],
)
def test_keyword_body_sets_contact_kind(adapter, body, kind):
    (contact,) = adapter.parse_inbound(request_for(base_form(Body=body)))

    assert contact.kind is kind
    assert contact.text == body


def test_custom_keyword_table_is_used():
    from ticketing.domain.sms import DUTCH_KEYWORDS, TWILIO_DEFAULT_KEYWORDS

    dutch = TwilioSmsAdapter(
        "AC1",
        "token",
        from_number="+31201234567",
        keywords=TWILIO_DEFAULT_KEYWORDS.merged(DUTCH_KEYWORDS),
    )

    (contact,) = dutch.parse_inbound(request_for(base_form(Body="Afmelden")))

    assert contact.kind is ContactKind.opt_out


def test_mms_with_content_types_and_no_body(adapter):
    media = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME{}"
    form = base_form(
        Body=None,
        NumMedia="2",
        MediaUrl0=media.format("aa11"),
        MediaContentType0="image/jpeg",
        MediaUrl1=media.format("bb22"),
        MediaContentType1="application/pdf",
    )

    (contact,) = adapter.parse_inbound(request_for(form))

    assert contact.text == ""
    assert [(a.filename, a.content_type, a.url) for a in contact.attachments] == [
        ("MEaa11.jpg", "image/jpeg", media.format("aa11")),
        ("MEbb22.pdf", "application/pdf", media.format("bb22")),
    ]


def test_media_filename_made_safe(adapter):
    form = base_form(NumMedia="1", MediaUrl0="https://x.example/a/..%2F..%2Fetc passwd")

    (contact,) = adapter.parse_inbound(request_for(form))

    (attachment,) = contact.attachments
    assert "/" not in attachment.filename
    assert " " not in attachment.filename
    assert not attachment.filename.startswith(".")


def test_missing_media_url_recorded_as_defect(adapter):
    form = base_form(NumMedia="2", MediaUrl0="https://x.example/ME1")

    (contact,) = adapter.parse_inbound(request_for(form))

    assert len(contact.attachments) == 1
    assert contact.defects == ("NumMedia=2 but MediaUrl1 is missing",)


def test_media_found_even_without_num_media(adapter):
    form = base_form(NumMedia=None, Body=None, MediaUrl0="https://x.example/ME1")

    (contact,) = adapter.parse_inbound(request_for(form))

    assert [a.url for a in contact.attachments] == ["https://x.example/ME1"]


@pytest.mark.parametrize("body", [None, "", "   \n"])
def test_bodyless_message_without_media_is_invalid(adapter, body):
    with pytest.raises(InvalidInbound, match="empty message"):
        adapter.parse_inbound(request_for(base_form(Body=body)))


# --- required fields and senders ---------------------------------------------------------------


def test_missing_message_sid_is_invalid(adapter):
    with pytest.raises(InvalidInbound, match="MessageSid"):
        adapter.parse_inbound(request_for(base_form(MessageSid=None)))


def test_sms_sid_used_when_message_sid_missing(adapter):
    (contact,) = adapter.parse_inbound(request_for(base_form(MessageSid=None, SmsSid="SM123")))

    assert contact.external_id == "SM123"


@pytest.mark.parametrize("sender", [None, "", "  "])
def test_missing_sender_is_invalid(adapter, sender):
    with pytest.raises(InvalidInbound, match="missing From"):
        adapter.parse_inbound(request_for(base_form(From=sender)))


@pytest.mark.parametrize(
    ("sender", "channel"),
    [("messenger:1234567890", "Facebook Messenger"), ("Viber:+31612345678", "Viber")],
)
def test_other_twilio_channel_sender_is_refused(adapter, sender, channel):
    with pytest.raises(InvalidInbound, match=f"^{channel} is not a configured channel$"):
        adapter.parse_inbound(request_for(base_form(From=sender)))


def test_tel_uri_sender_accepted(adapter):
    (contact,) = adapter.parse_inbound(request_for(base_form(From="tel:+31612345678")))

    assert contact.sender.address == "+31612345678"


@pytest.mark.parametrize("sender", ["Vodafone", "+1", "0000"])
def test_non_phone_sender_is_invalid(adapter, sender):
    with pytest.raises(InvalidInbound, match="sender is not a phone number"):
        adapter.parse_inbound(request_for(base_form(From=sender)))


def test_national_sender_normalised_with_default_region(adapter):
    (contact,) = adapter.parse_inbound(request_for(base_form(From="06 1234 5678")))

    assert contact.sender.address == "+31612345678"


def test_received_at_is_required():
    adapter = TwilioSmsAdapter("AC1", "token", from_number="+31201234567")
    request = InboundRequest(channel=Channel.sms, body=b"", form=base_form())

    with pytest.raises(ValueError, match="received_at"):
        adapter.parse_inbound(request)


def test_metadata_carries_messaging_service_and_drops_blanks(adapter):
    form = base_form(MessagingServiceSid="MG" + "c" * 32, FromCity="", NumSegments="x")

    (contact,) = adapter.parse_inbound(request_for(form))

    assert contact.metadata == {
        "to": "+31201234567",
        "account_sid": "AC" + "b" * 32,
        "messaging_service_sid": "MG" + "c" * 32,
    }
