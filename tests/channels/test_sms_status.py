"""Twilio status callbacks: parsing the courier corpus, and the out-of-order status rule."""

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms import TwilioSmsAdapter, parse_status_callback
from ticketing.domain.contact import InvalidInbound
from ticketing.domain.sms import (
    MESSAGE_STATUSES,
    TERMINAL_STATUSES,
    SmsStatusUpdate,
    is_status_advance,
    status_rank,
)

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
COURIER = {
    payload["id"]: payload
    for payload in json.loads(
        (CORPORA / "nyaruka-courier-twilio-payloads" / "payloads.json").read_text()
    )["payloads"]
}


def form_of(payload_id):
    return dict(parse_qsl(COURIER[payload_id]["form_body"], keep_blank_values=True))


@pytest.mark.parametrize(
    ("payload_id", "sid", "status", "error_code", "is_opt_out"),
    [
        ("statusStop", "SMe287d7109a5a925f182f0e07fe5b223b", "failed", "21610", True),
        ("statusValid", "SMe287d7109a5a925f182f0e07fe5b223b", "delivered", None, False),
        ("statusRead", "SMe287d7109a5a925f182f0e07fe5b223b", "read", None, False),
        ("statusRateLimit", "SMe287d7109a5a925f182f0e07fe5b223b", "failed", "63018", False),
        ("tmsStatusExtra", "SM0b6e2697aae04182a9f5b5c7a8994c7f", "sent", None, False),
    ],
)
def test_courier_status_callback_parsed(payload_id, sid, status, error_code, is_opt_out):
    update = parse_status_callback(form_of(payload_id))

    assert update.message_sid == sid
    assert update.status == status
    assert update.error_code == error_code
    assert update.is_opt_out is is_opt_out
    assert update.raw == COURIER[payload_id]["params"]


def test_courier_opt_out_callback_names_the_recipient():
    update = parse_status_callback(form_of("statusStop"))

    assert update.to == "+12028831111"
    assert update.is_terminal


def test_courier_unknown_status_rejected():
    with pytest.raises(InvalidInbound, match="unknown message status 'huh'"):
        parse_status_callback(form_of("statusInvalid"))


def test_every_courier_status_payload_is_handled():
    status_payloads = [p for p in COURIER.values() if p["kind"].startswith("status-callback")]
    assert len(status_payloads) == 6
    for payload in status_payloads:
        form = form_of(payload["id"])
        if payload["kind"] == "status-callback-invalid":
            with pytest.raises(InvalidInbound):
                parse_status_callback(form)
        else:
            assert parse_status_callback(form).status == payload["params"]["MessageStatus"]


def test_adapter_method_delegates():
    adapter = TwilioSmsAdapter("AC1", "token", messaging_service_sid="MG1")

    assert adapter.parse_status_callback(form_of("statusValid")).status == "delivered"


def test_status_callback_without_sid_rejected():
    with pytest.raises(InvalidInbound, match="MessageSid"):
        parse_status_callback({"MessageStatus": "sent"})


def test_status_callback_without_status_rejected():
    with pytest.raises(InvalidInbound, match="MessageStatus"):
        parse_status_callback({"MessageSid": "SM1"})


def test_sms_status_used_when_message_status_missing():
    update = parse_status_callback({"SmsSid": "SM1", "SmsStatus": "Undelivered", "ErrorCode": ""})

    assert (update.message_sid, update.status, update.error_code) == ("SM1", "undelivered", None)


def test_status_callback_accepts_list_valued_form():
    update = parse_status_callback({"MessageSid": ["SM1"], "MessageStatus": ["queued"]})

    assert update.status == "queued"


# --- ordering ----------------------------------------------------------------------------------

LIFECYCLE = [
    "scheduled",
    "accepted",
    "queued",
    "sending",
    "sent",
    "undelivered",
    "delivered",
    "read",
]


def test_lifecycle_ranks_strictly_increase():
    ranks = [status_rank(status) for status in LIFECYCLE]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


@pytest.mark.parametrize(
    ("current", "new", "applies"),
    [
        (None, "sent", True),
        ("queued", "sent", True),
        ("accepted", "queued", True),  # Messaging Service: accepted comes first
        ("sent", "delivered", True),
        ("delivered", "sent", False),  # late "sent" after the handset receipt
        ("failed", "sent", False),
        ("undelivered", "delivered", True),  # a late positive receipt wins
        ("delivered", "undelivered", False),
        ("delivered", "read", True),
        ("read", "delivered", False),
        ("sent", "sent", False),  # retried callback
        ("failed", "undelivered", False),
        ("receiving", "received", True),
    ],
)
def test_is_status_advance(current, new, applies):
    assert is_status_advance(current, new) is applies


def test_unknown_status_has_no_rank():
    with pytest.raises(ValueError, match="unknown message status"):
        status_rank("huh")


def test_every_terminal_status_outranks_every_in_flight_status():
    in_flight = MESSAGE_STATUSES - TERMINAL_STATUSES
    assert min(map(status_rank, TERMINAL_STATUSES)) > max(map(status_rank, in_flight))


@given(st.lists(st.sampled_from(sorted(MESSAGE_STATUSES - {"receiving", "received"})), min_size=1))
def test_final_status_does_not_depend_on_arrival_order(callbacks):
    def apply_all(order):
        stored = None
        for status in order:
            if is_status_advance(stored, status):
                stored = status
        return stored

    final = apply_all(callbacks)

    assert status_rank(final) == max(map(status_rank, callbacks))
    assert status_rank(apply_all(reversed(callbacks))) == status_rank(final)


def test_is_opt_out_follows_error_code():
    assert SmsStatusUpdate("SM1", "failed", error_code="21610").is_opt_out
    assert not SmsStatusUpdate("SM1", "failed", error_code="30007").is_opt_out
    assert not SmsStatusUpdate("SM1", "undelivered").is_opt_out
