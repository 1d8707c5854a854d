"""Recognise auto-replies (RFC 3834 and the usual headers), bounces and spam complaints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ticketing.domain.contact import ContactKind

# Local parts that only mail systems send from.
_DAEMON_SENDERS = re.compile(
    r"^(?:mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|maildaemon|post_?master"
    r"|mail\.?delivery(?:\.?system)?|bounces?|mdaemon|nobody-bounce)$",
    re.IGNORECASE,
)
_DAEMON_NAMES = re.compile(
    r"mail(?:er)?[ -]?daemon|mail delivery (?:sub)?system|postmaster|delivery status notification"
    r"|mail administrator|mail delivery service|systemadministrator",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|return(?:ed)? to sender|delivery status notification"
    r"|delivery (?:has )?fail|delivery failure|failed delivery|delivery problem|mail delivery"
    r"|failure notice|non[- ]?deliver|nondeliver|not (?:be )?delivered|could not be delivered"
    r"|couldn'?t be delivered|unable to deliver|delivery notification|message not delivered"
    r"|mail system error|permanent error|warning: could not send|delayed mail|delivery delay"
    r"|message delivery (?:delayed|failed)|rejected|bounce|unzustellbar|nicht zustellbar"
    r"|zustellung fehlgeschlagen|fehlgeschlagen|onbestelbaar|niet bezorgd|kan niet worden bezorgd"
    r"|non remis|non distribuable|échec de (?:la )?remise|impossible de remettre|no entregado"
    r"|non recapitato|mancata consegna|niedostarczon|nedoručiteln|不達|未送达|退信|配信不能"
    r"|エラー|mail could not|error sending|delivery report|non-remise|retour de courrier",
    re.IGNORECASE,
)
# Phrases MTAs write into plain-text bounces (only about half of real bounces carry a
# machine-readable message/delivery-status part).
_BOUNCE_BODY = re.compile(
    r"this is the mail system at host|i'm sorry to have to inform you that your message"
    r"|could not be delivered to one or more recipients|delivery to the following recipients?"
    r" failed|the following addresses had permanent fatal errors|permanent fatal errors"
    r"|message could not be delivered|your message (?:could not|cannot|was not|wasn't) (?:be )?"
    r"deliver|was not delivered to|delivery has failed|failed to deliver|unable to deliver"
    r"|undeliverable|user unknown|unknown user|no such user|mailbox (?:is )?(?:full|unavailable"
    r"|not found|does not exist)|recipient address rejected|address rejected|host unknown"
    r"|remote host said|the original message was received|this is a copy of the message"
    r"|returned message|delivery status notification|a message that you sent could not be"
    r"|hi\. this is the qmail-send program|the mail system|mail delivery failed|smtp error"
    r"|550[ -]5\.\d|5\.[0-7]\.\d+|554 |over quota|quota exceeded|the recipient's mailbox"
    r"|nicht zugestellt|unzustellbar|kon niet worden afgeleverd|niet worden bezorgd"
    r"|n'a pas pu être remis|impossible de remettre",
    re.IGNORECASE,
)
# Subjects mail clients give automatic replies, at the start (after Re:/AW: prefixes). Short
# words a customer might open with ("Vacation booking", "Absence of reply") need the colon
# that the clients put after them.
_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|antw|fw|wg|tr)\s*:\s*)*(?:\[[^\]]*\]\s*)?"
    r"(?:out of (?:the )?office|out-of-office|automatic reply|auto(?:matic)?[- ]?repl"
    r"|auto[- ]?respon|autoreply|vacation reply|away from (?:the )?office"
    r"|automatisch(?:e)? (?:antwoord|bericht|reactie)|afwezigheidsbericht|buiten kantoor"
    r"|abwesenheitsnotiz|automatische antwort|automatische rückantwort|nicht im büro"
    r"|urlaubsabwesenheit|réponse automatique|absence du bureau|absent du bureau"
    r"|message d'absence|(?:afwezig|niet aanwezig|abwesend|au(?:ß|ss)er haus|absent|absence"
    r"|vacation|on vacation|on leave|ooo|away)\s*:)",
    re.IGNORECASE,
)
_PRECEDENCE_AUTOMATIC = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
# Amazon SES reports bounces as SNS notifications: JSON in a plain-text body.
# A "Delivery" notification is a success report: still about our mail, never a ticket.
_SES_BOUNCE = re.compile(r'"notificationType"\s*:\s*"(Bounce|Delivery)"', re.IGNORECASE)
_SES_COMPLAINT = re.compile(r'"notificationType"\s*:\s*"Complaint"', re.IGNORECASE)
# Hotmail's older abuse reports: the complained-about message attached, no ARF part.
_COMPLAINT_SUBJECT = re.compile(r"^\s*complaint about message from\b", re.IGNORECASE)
# Headers of mailing-list software (List-Unsubscribe alone is left out: CRM tools add it to
# one-to-one mail a customer may send us).
_LIST_HEADERS = ("list-id", "list-subscribe", "list-post", "mailing-list", "x-mlserver",
                 "x-mailing-list")
_MESSAGE_ID_LINE = re.compile(
    r"^[ \t>]*(?:X-)?(?:Original-)?Message-Id\s*:\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_BODY_SCAN_CHARS = 200_000
_DSN_ACTION = re.compile(r"^\s*Action\s*:\s*(\w+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class MailSignals:
    """What the parser saw that tells automatic mail apart; built by parse.py."""

    headers: Mapping[str, str]  # lower-case header name -> decoded value (first occurrence)
    sender_address: str
    sender_name: str = ""
    subject: str = ""
    body_text: str = ""
    report_type: str | None = None  # the report-type parameter of a multipart/report
    part_types: frozenset[str] = frozenset()
    delivery_status: str = ""  # text of message/delivery-status parts
    attached_message_ids: tuple[str, ...] = ()  # Message-IDs of attached original messages
    has_attached_original: bool = False
    replied_to_ids: tuple[str, ...] = ()  # the report's own In-Reply-To and References


@dataclass(frozen=True)
class AutomaticVerdict:
    """The kind the adapter reports, why, and which of our messages a report is about."""

    kind: ContactKind
    reasons: tuple[str, ...] = ()
    bounced_message_ids: tuple[str, ...] = ()
    report: str | None = None  # "delivery-status" or "feedback-report"
    details: Mapping[str, str] = field(default_factory=dict)


def _header(signals: MailSignals, name: str) -> str:
    return signals.headers.get(name, "").strip()


def _auto_reply_reasons(signals: MailSignals) -> list[str]:
    reasons = []
    auto_submitted = _header(signals, "auto-submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        reasons.append(f"auto-submitted: {auto_submitted[:40]}")
    precedence = _header(signals, "precedence").lower()
    if precedence in _PRECEDENCE_AUTOMATIC:
        reasons.append(f"precedence: {precedence}")
    suppress = _header(signals, "x-auto-response-suppress").lower()
    if suppress and re.search(r"\b(?:all|oof|autoreply)\b", suppress):
        reasons.append(f"x-auto-response-suppress: {suppress[:40]}")
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autogenerated"):
        value = _header(signals, name).lower()
        if value and value not in ("no", "false", "0"):
            reasons.append(name)
    list_header = next((name for name in _LIST_HEADERS if _header(signals, name)), None)
    if list_header:
        reasons.append(list_header)
    if _OUT_OF_OFFICE_SUBJECT.match(signals.subject):
        reasons.append("out-of-office subject")
    return reasons


def _bounce_reasons(signals: MailSignals) -> tuple[list[str], list[str]]:
    """Return (decisive reasons, supporting reasons) that the mail is a delivery failure."""
    decisive, supporting = [], []
    if signals.report_type == "delivery-status" or {
        "message/delivery-status",
        "message/global-delivery-status",
    } & signals.part_types:
        decisive.append("delivery-status report")
    if _header(signals, "x-failed-recipients"):
        decisive.append("x-failed-recipients")
    if _SES_BOUNCE.search(signals.body_text[:_BODY_SCAN_CHARS]):
        decisive.append("amazon ses notification")
    local_part = signals.sender_address.partition("@")[0]
    if _DAEMON_SENDERS.match(local_part):
        decisive.append(f"sender {local_part}")
    elif _DAEMON_NAMES.search(signals.sender_name):
        supporting.append("daemon display name")
    if _BOUNCE_SUBJECT.search(signals.subject):
        supporting.append("bounce subject")
    if _BOUNCE_BODY.search(signals.body_text[:_BODY_SCAN_CHARS]):
        supporting.append("bounce wording")
    return_path = _header(signals, "return-path")
    if return_path in ("<>", ""):
        if "return-path" in signals.headers:
            supporting.append("null return-path")
    if signals.has_attached_original:
        supporting.append("original attached")
    auto_submitted = _header(signals, "auto-submitted").lower()
    if auto_submitted.startswith("auto-generated") or "x-autogenerated" in signals.headers:
        supporting.append("auto-generated")
    return decisive, supporting


def _bounced_ids(signals: MailSignals) -> tuple[str, ...]:
    found = list(signals.attached_message_ids)
    if not found:
        # Plain-text bounces quote the original headers in the body.
        found = [
            match.group(1).strip("<>")
            for match in _MESSAGE_ID_LINE.finditer(signals.body_text[:_BODY_SCAN_CHARS])
        ]
    if not found:
        # Some MTAs (qmail, Apache James) reply to the failed message instead of attaching it.
        found = list(signals.replied_to_ids)
    return tuple(dict.fromkeys(found))


def classify(signals: MailSignals) -> AutomaticVerdict:
    """Decide message, auto_reply or bounce from the headers, structure and wording.

    Spam complaints (ARF feedback reports) are reported as auto_reply with report
    "feedback-report": they must never open a ticket, and the message they complain about
    is in bounced_message_ids so intake can stop mailing that customer.
    """
    body = signals.body_text[:_BODY_SCAN_CHARS]
    if (
        signals.report_type == "feedback-report"
        or "message/feedback-report" in signals.part_types
        or _SES_COMPLAINT.search(body)
        or (_COMPLAINT_SUBJECT.match(signals.subject) and signals.has_attached_original)
    ):
        return AutomaticVerdict(
            ContactKind.auto_reply,
            ("feedback-report",),
            _bounced_ids(signals),
            report="feedback-report",
        )
    decisive, supporting = _bounce_reasons(signals)
    wording = {"bounce subject", "bounce wording"} & set(supporting)
    machine = {"null return-path", "auto-generated", "daemon display name"} & set(supporting)
    # Wording alone is not enough: a customer may well write "delivery failed" about a
    # parcel, and forward the shop's mail as an attachment. It takes a sign of a machine, or
    # bounce wording in both subject and body around the attached original.
    if (
        decisive
        or (wording and machine)
        or (len(wording) == 2 and "original attached" in supporting)
    ):
        action = _DSN_ACTION.search(signals.delivery_status)
        ses = _SES_BOUNCE.search(body)
        details = {}
        if action:
            details["action"] = action.group(1).lower()
        elif ses:
            details["action"] = "failed" if ses.group(1).lower() == "bounce" else "delivered"
        return AutomaticVerdict(
            ContactKind.bounce,
            tuple(decisive + supporting),
            _bounced_ids(signals),
            report="delivery-status" if "delivery-status report" in decisive else None,
            details=details,
        )
    reasons = _auto_reply_reasons(signals)
    if reasons:
        return AutomaticVerdict(ContactKind.auto_reply, tuple(reasons))
    return AutomaticVerdict(ContactKind.message)
