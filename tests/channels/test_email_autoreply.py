"""Auto-reply, bounce and complaint recognition: header rules, wording, and the sisimai corpus."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.email import parse_message
from channels.email.autoreply import MailSignals, classify
from ticketing.domain.contact import ContactKind, InvalidInbound

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
RECEIVED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SISIMAI_FLOOR = 0.95

# labels.json label -> the kinds that count as right. Spam complaints (ARF feedback reports)
# are auto_reply on purpose: never a ticket, and the complained-about message id is kept.
EXPECTED_KINDS = {
    "bounce": {ContactKind.bounce},
    "auto-reply": {ContactKind.auto_reply},
    "feedback-report": {ContactKind.auto_reply},
    "not-bounce": {ContactKind.message},
}


def signals(**overrides: object) -> MailSignals:
    values: dict[str, object] = {"headers": {}, "sender_address": "klant@example.nl"}
    values.update(overrides)
    return MailSignals(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"auto-submitted": "auto-replied"}, "auto-submitted: auto-replied"),
        ({"auto-submitted": "auto-generated"}, "auto-submitted: auto-generated"),
        ({"precedence": "bulk"}, "precedence: bulk"),
        ({"precedence": "junk"}, "precedence: junk"),
        ({"precedence": "list"}, "precedence: list"),
        ({"x-auto-response-suppress": "All"}, "x-auto-response-suppress: all"),
        ({"x-auto-response-suppress": "DR, OOF"}, "x-auto-response-suppress: dr, oof"),
        ({"x-autoreply": "yes"}, "x-autoreply"),
        ({"x-autorespond": "Out of office"}, "x-autorespond"),
        ({"list-id": "<complaints.lists.example.org>"}, "list-id"),
    ],
)
def test_automatic_headers_mean_auto_reply(headers: dict[str, str], reason: str) -> None:
    verdict = classify(signals(headers=headers))
    assert verdict.kind is ContactKind.auto_reply
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    "headers",
    [
        {"auto-submitted": "no"},
        {"precedence": "first-class"},
        {"x-auto-response-suppress": ""},
        {"x-autoreply": "no"},
        {"list-unsubscribe": "<mailto:stop@crm.example>"},
    ],
)
def test_ordinary_headers_mean_a_message(headers: dict[str, str]) -> None:
    assert classify(signals(headers=headers)).kind is ContactKind.message


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: uw klacht",
        "Automatic reply: Your complaint T-1042",
        "Automatisch antwoord: pakket",
        "Afwezig: Re: levering",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Automatische Antwort: Bestellung",
        "Réponse automatique : votre demande",
        "Absence du bureau",
        "RE: AutoReply: order",
    ],
)
def test_out_of_office_subjects_in_four_languages(subject: str) -> None:
    assert classify(signals(subject=subject)).kind is ContactKind.auto_reply


@pytest.mark.parametrize(
    "subject",
    [
        "My parcel was returned to the office again",
        "Klacht over afwezigheid van bezorger",  # the word appears, but not as an opener
        "Vacation booking cancelled without notice",
        "Absence of any reply to my complaint",
        "Re: [T-1042] still waiting",
    ],
)
def test_complaints_that_mention_absence_stay_messages(subject: str) -> None:
    assert classify(signals(subject=subject)).kind is ContactKind.message


def test_a_customer_complaining_about_undelivered_goods_is_not_a_bounce() -> None:
    verdict = classify(
        signals(
            subject="Delivery failure: undelivered package",
            body_text="Your courier failed to deliver again. The mailbox is full of notes.",
            headers={"return-path": "<klant@example.nl>"},
        )
    )
    assert verdict.kind is ContactKind.message


def test_a_customer_forwarding_the_shops_mail_is_not_a_bounce() -> None:
    verdict = classify(
        signals(
            subject="Undelivered parcel, see the attached mail from your shop",
            has_attached_original=True,
            attached_message_ids=("shop-1@shop.example",),
        )
    )
    assert verdict.kind is ContactKind.message


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"part_types": frozenset({"message/delivery-status"})}, "delivery-status report"),
        ({"report_type": "delivery-status"}, "delivery-status report"),
        ({"headers": {"x-failed-recipients": "gone@example.org"}}, "x-failed-recipients"),
        ({"sender_address": "MAILER-DAEMON@mx.example.org"}, "sender MAILER-DAEMON"),
        ({"sender_address": "postmaster@example.org"}, "sender postmaster"),
    ],
)
def test_decisive_bounce_signals(overrides: dict[str, object], reason: str) -> None:
    verdict = classify(signals(**overrides))
    assert verdict.kind is ContactKind.bounce
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Undelivered Mail Returned to Sender", "This is the mail system at host mx."),
        ("Delivery Status Notification (Failure)", "Delivery to the following recipient failed"),
        ("Mail delivery failed: returning message to sender", "550 5.1.1 User unknown"),
        ("Unzustellbar: Ihre Nachricht", "Die Nachricht konnte nicht zugestellt werden: 5.1.1"),
        ("Onbestelbaar: uw bericht", "Uw bericht kon niet worden afgeleverd. 550 5.1.1"),
        ("Non remis : votre message", "Le message n'a pas pu être remis."),
    ],
)
def test_bounce_wording_with_a_null_return_path(subject: str, body: str) -> None:
    verdict = classify(signals(subject=subject, body_text=body, headers={"return-path": "<>"}))
    assert verdict.kind is ContactKind.bounce


def test_bounced_message_id_comes_from_the_attached_original() -> None:
    verdict = classify(
        signals(
            part_types=frozenset({"message/delivery-status"}),
            attached_message_ids=("out-7@tickets.example.com",),
            body_text="Message-ID: <other@x>",
        )
    )
    assert verdict.bounced_message_ids == ("out-7@tickets.example.com",)


def test_bounced_message_id_from_quoted_headers_in_the_body() -> None:
    body = "Undelivered.\n------ original ------\nMessage-Id: <out-8@tickets.example.com>\n"
    verdict = classify(signals(sender_address="mailer-daemon@mx.example", body_text=body))
    assert verdict.bounced_message_ids == ("out-8@tickets.example.com",)


def test_feedback_report_is_an_auto_reply_about_our_message() -> None:
    verdict = classify(
        signals(report_type="feedback-report", attached_message_ids=("out-9@tickets.example",))
    )
    assert verdict.kind is ContactKind.auto_reply
    assert verdict.report == "feedback-report"
    assert verdict.bounced_message_ids == ("out-9@tickets.example",)


def test_delayed_dsn_action_is_reported() -> None:
    verdict = classify(
        signals(
            report_type="delivery-status",
            delivery_status="Reporting-MTA: dns; mx\n\nAction: delayed\nStatus: 4.4.1\n",
        )
    )
    assert verdict.kind is ContactKind.bounce
    assert verdict.details["action"] == "delayed"


def sisimai_predictions() -> list[tuple[str, str, ContactKind | None]]:
    """Parse every sisimai mail once: each must give a Contact or InvalidInbound (None here)."""
    root = CORPORA / "sisimai-set-of-emails"
    if not root.is_dir():
        pytest.skip(f"corpus folder {root} is missing (shared corpora not checked out)")
    labels = json.loads((root / "labels.json").read_text())["files"]
    assert len(labels) == len(list(root.glob("*/*.eml")))
    predictions: list[tuple[str, str, ContactKind | None]] = []
    for name, entry in sorted(labels.items()):
        try:
            kind = parse_message((root / name).read_bytes(), received_at=RECEIVED_AT).kind
        except InvalidInbound:
            kind = None
        predictions.append((name, entry["label"], kind))
    return predictions


def test_sisimai_labels_predicted() -> None:
    predictions = sisimai_predictions()
    right = [kind in EXPECTED_KINDS[label] for _, label, kind in predictions]
    rate = sum(right) / len(right)
    shown = [(name, label, kind.value if kind else "refused") for name, label, kind in predictions]
    confusion = Counter((label, kind) for _, label, kind in shown)
    wrong = [case for case, ok in zip(shown, right, strict=True) if not ok]
    print(f"\nsisimai: {sum(right)}/{len(right)} = {rate:.1%}; {dict(confusion)}; wrong: {wrong}")
    assert rate >= SISIMAI_FLOOR
