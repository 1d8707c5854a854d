"""X-Twilio-Signature validation against Twilio's own vectors, and public URL reconstruction."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from channels.sms import TwilioSmsAdapter, public_request_url, validate_twilio_signature
from ticketing.domain.contact import Channel, InboundRequest

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
VECTORS = json.loads(
    (CORPORA / "twilio-python-signature-vectors" / "signature_vectors.json").read_text()
)
PAYLOADS = json.loads((CORPORA / "nyaruka-courier-twilio-payloads" / "payloads.json").read_text())[
    "payloads"
]


def _body(vector):
    return vector["body"].encode("utf-8") if "body" in vector else None


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["id"])
def test_signature_vector_matches_upstream_expectation(vector):
    params = [tuple(pair) for pair in vector["params"]]
    valid = validate_twilio_signature(
        vector["auth_token"],
        vector["request_url"],
        params,
        vector["signature_header"],
        _body(vector),
    )
    assert valid is vector["expect_valid"]


def test_signature_vectors_include_negative_control():
    assert any(not vector["expect_valid"] for vector in VECTORS["vectors"])


@pytest.mark.parametrize(
    "as_params",
    [
        pytest.param(lambda pairs: pairs, id="pairs"),
        pytest.param(lambda pairs: MultiDict(pairs), id="werkzeug-multidict"),
        pytest.param(
            lambda pairs: {k: [v for key, v in pairs if key == k] for k, _ in pairs},
            id="dict-of-lists",
        ),
    ],
)
def test_signature_duplicate_keys_accepted_in_every_form_shape(as_params):
    vector = next(v for v in VECTORS["vectors"] if v["id"] == "form-duplicate-keys")
    pairs = [tuple(pair) for pair in vector["params"]]
    assert validate_twilio_signature(
        vector["auth_token"], vector["request_url"], as_params(pairs), vector["signature_header"]
    )


def test_signature_plain_dict_params_accepted():
    vector = next(v for v in VECTORS["vectors"] if v["id"] == "form-basic")
    params = dict(vector["params"])
    assert validate_twilio_signature(
        vector["auth_token"], vector["request_url"], params, vector["signature_header"]
    )


def test_signature_dropping_one_duplicate_value_fails():
    vector = next(v for v in VECTORS["vectors"] if v["id"] == "form-duplicate-keys")
    pairs = [tuple(pair) for pair in vector["params"] if pair != ["Digits", "5678"]]
    assert not validate_twilio_signature(
        vector["auth_token"], vector["request_url"], pairs, vector["signature_header"]
    )


def test_body_sha256_vector_is_sha256_of_body():
    sample = VECTORS["body_sha256_vector"]
    digest = hashlib.sha256(sample["body"].encode("utf-8")).hexdigest()
    assert digest == sample["sha256_hex"]


def _json_vector():
    return next(v for v in VECTORS["vectors"] if v["id"] == "json-body")


def test_json_body_signature_rejects_tampered_body():
    vector = _json_vector()
    tampered = vector["body"].replace("true", "false").encode("utf-8")
    assert not validate_twilio_signature(
        vector["auth_token"], vector["request_url"], [], vector["signature_header"], tampered
    )


def test_json_body_signature_without_body_fails_closed():
    vector = _json_vector()
    assert not validate_twilio_signature(
        vector["auth_token"], vector["request_url"], [], vector["signature_header"], None
    )


def test_json_body_signature_rejects_non_utf8_body():
    vector = _json_vector()
    assert not validate_twilio_signature(
        vector["auth_token"], vector["request_url"], [], vector["signature_header"], b"\xff\xfe"
    )


def test_form_signature_ignores_body_without_body_sha256():
    vector = next(v for v in VECTORS["vectors"] if v["id"] == "form-basic")
    params = [tuple(pair) for pair in vector["params"]]
    raw_body = b"CallSid=CA1234567890ABCDE&Digits=1234"
    assert validate_twilio_signature(
        vector["auth_token"], vector["request_url"], params, vector["signature_header"], raw_body
    )


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_is_invalid(signature):
    assert not validate_twilio_signature("12345", "https://example.com/", {}, signature)


def test_empty_auth_token_is_a_configuration_error():
    with pytest.raises(ValueError, match="auth token"):
        validate_twilio_signature("", "https://example.com/", {}, "c2ln")


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p["id"])
def test_courier_payload_signature_round_trip(payload):
    example = payload["generated_signature_example"]
    params = parse_qsl(payload["form_body"], keep_blank_values=True)
    token, url, signature = example["auth_token"], example["url"], example["X-Twilio-Signature"]

    assert validate_twilio_signature(token, url, params, signature)
    assert not validate_twilio_signature(token, url, [*params, ("Body", "injected")], signature)
    assert not validate_twilio_signature("another-token", url, params, signature)
    assert not validate_twilio_signature(token, url.replace("/sms/", "/other/"), params, signature)


def test_sha256_signature_settings_select_the_algorithm():
    token, url = "shared-key-secret", "https://tickets.example.com/inbound/twilio/sms"
    params = {"MessageSid": "SM1", "Body": "hi"}
    signature = RequestValidator(token).compute_signature(url, params, "HMAC_SHA256")
    settings = "key=webhooks_sharedkey_123,algorithm=HMAC_SHA256"

    assert validate_twilio_signature(token, url, params, signature, signature_settings=settings)
    assert not validate_twilio_signature(token, url, params, signature)


# --- public URL reconstruction -----------------------------------------------------------------

SIGNED_URL = "https://tickets.example.com/webhooks/twilio/sms/inbound"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {
                "configured_base_url": "https://tickets.example.com",
                "request_host": "app:8000",
                "forwarded_proto": "http",
                "forwarded_host": "evil.example",
                "trust_proxy": True,
            },
            SIGNED_URL,
            id="configured-base-wins",
        ),
        pytest.param(
            {"configured_base_url": "https://tickets.example.com/"},
            SIGNED_URL,
            id="configured-base-trailing-slash",
        ),
        pytest.param(
            {"configured_base_url": "https://example.com/helpdesk"},
            "https://example.com/helpdesk/webhooks/twilio/sms/inbound",
            id="configured-base-with-prefix",
        ),
        pytest.param(
            {
                "configured_base_url": None,
                "request_scheme": "http",
                "request_host": "127.0.0.1:8000",
                "forwarded_proto": "https",
                "forwarded_host": "tickets.example.com",
                "trust_proxy": True,
            },
            SIGNED_URL,
            id="trusted-proxy-headers",
        ),
        pytest.param(
            {
                "configured_base_url": None,
                "request_scheme": "http",
                "request_host": "127.0.0.1:8000",
                "forwarded_proto": "https",
                "forwarded_host": "tickets.example.com",
                "trust_proxy": False,
            },
            "http://127.0.0.1:8000/webhooks/twilio/sms/inbound",
            id="untrusted-proxy-headers-ignored",
        ),
        pytest.param(
            {
                "configured_base_url": None,
                "request_host": "127.0.0.1:8000",
                "forwarded_proto": "http, https",
                "forwarded_host": "spoofed.example, tickets.example.com",
                "trust_proxy": True,
            },
            SIGNED_URL,
            id="rightmost-hop-is-our-proxy",
        ),
        pytest.param(
            {"configured_base_url": None, "request_scheme": "HTTPS", "request_host": "h.example"},
            "https://h.example/webhooks/twilio/sms/inbound",
            id="direct-request",
        ),
    ],
)
def test_public_request_url(kwargs, expected):
    assert public_request_url(path_and_query="/webhooks/twilio/sms/inbound", **kwargs) == expected


def test_public_request_url_keeps_query_and_drops_flask_lone_question_mark():
    base = "https://t.example"
    assert public_request_url(base, "/sms?") == "https://t.example/sms"
    assert public_request_url(base, "/sms?a=1&b=%2B") == "https://t.example/sms?a=1&b=%2B"
    assert public_request_url(base, "sms") == "https://t.example/sms"


@pytest.mark.parametrize("base", ["tickets.example.com", "ftp://x.example", "https://x?y=1"])
def test_public_request_url_rejects_malformed_base(base):
    with pytest.raises(ValueError, match="public base URL"):
        public_request_url(base, "/sms")


def test_public_request_url_needs_a_host():
    with pytest.raises(ValueError, match="host"):
        public_request_url(None, "/sms", request_host=None)


def test_signature_valid_behind_tls_terminating_proxy():
    payload = PAYLOADS[0]
    example = payload["generated_signature_example"]
    params = parse_qsl(payload["form_body"], keep_blank_values=True)
    seen_by_app = {
        "request_scheme": "http",
        "request_host": "10.0.0.5:8000",
        "forwarded_proto": "https",
        "forwarded_host": "tickets.example.com",
    }
    path = "/webhooks/twilio/sms/inbound?"  # as Flask's request.full_path gives it

    trusted = public_request_url(None, path, trust_proxy=True, **seen_by_app)
    naive = public_request_url(None, path, trust_proxy=False, **seen_by_app)

    assert validate_twilio_signature(
        example["auth_token"], trusted, params, example["X-Twilio-Signature"]
    )
    assert not validate_twilio_signature(
        example["auth_token"], naive, params, example["X-Twilio-Signature"]
    )


# --- adapter.verify_request --------------------------------------------------------------------


def _adapter(token):
    return TwilioSmsAdapter("AC" + "0" * 32, token, from_number="+31201234567")


def _request(payload, headers, url=SIGNED_URL, with_form=True):
    form = MultiDict(parse_qsl(payload["form_body"], keep_blank_values=True))
    return InboundRequest(
        channel=Channel.sms,
        body=payload["form_body"].encode("utf-8"),
        headers=headers,
        form=form if with_form else {},
        url=url,
        received_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize("with_form", [True, False], ids=["decoded-form", "raw-body-only"])
def test_verify_request_accepts_signed_webhook(with_form):
    payload = PAYLOADS[0]
    example = payload["generated_signature_example"]
    headers = {"x-twilio-signature": example["X-Twilio-Signature"]}  # lower-case on purpose

    request = _request(payload, headers, with_form=with_form)

    assert _adapter(example["auth_token"]).verify_request(request)


def test_verify_request_rejects_unsigned_or_url_less_request():
    payload = PAYLOADS[0]
    example = payload["generated_signature_example"]
    adapter = _adapter(example["auth_token"])
    signed = {"X-Twilio-Signature": example["X-Twilio-Signature"]}

    assert not adapter.verify_request(_request(payload, {}))
    assert not adapter.verify_request(_request(payload, signed, url=None))
    assert not adapter.verify_request(_request(payload, signed, url=SIGNED_URL + "x"))


def test_verify_request_checks_json_body_hash():
    vector = _json_vector()
    adapter = _adapter(vector["auth_token"])
    headers = {
        "X-Twilio-Signature": vector["signature_header"],
        "Content-Type": "application/json",
    }

    def request(body):
        return InboundRequest(
            channel=Channel.sms, body=body, headers=headers, url=vector["request_url"]
        )

    assert adapter.verify_request(request(vector["body"].encode("utf-8")))
    assert not adapter.verify_request(request(b'{"property": "other"}'))


def test_blank_fields_are_signed_too():
    # A form parser that drops empty fields (parse_qsl's default) breaks every real webhook.
    payload = PAYLOADS[0]
    example = payload["generated_signature_example"]
    without_blanks = parse_qsl(payload["form_body"])

    assert not validate_twilio_signature(
        example["auth_token"], example["url"], without_blanks, example["X-Twilio-Signature"]
    )
