"""Twilio SMS adapter: webhook form fields to Contacts, OutboundMessages to Twilio's REST API."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.base import ChannelAdapter
from channels.phone import normalise_phone
from channels.sms.signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    validate_twilio_signature,
)
from channels.sms.transport import RedirectingTwilioHttpClient
from ticketing.domain.contact import (
    Channel,
    Contact,
    DeliveryReceipt,
    Identity,
    IdentityKind,
    InboundAttachment,
    InboundRequest,
    InvalidInbound,
    OutboundMessage,
)
from ticketing.domain.sms import (
    MESSAGE_STATUSES,
    SMS_BODY_MAX_LENGTH,
    TWILIO_DEFAULT_KEYWORDS,
    KeywordTable,
    SmsStatusUpdate,
    classify_keyword,
)

#: Twilio error codes that mean this message can never be sent as it is, with a plain reason.
#: Any other 4xx answer is permanent too; these only get a clearer text for the agent.
PERMANENT_ERRORS: Mapping[str, str] = {
    "21211": "the 'To' number is not a valid phone number",
    "21408": "sending to this country is not enabled on the Twilio account",
    "21602": "the message body is empty",
    "21606": "the 'From' number cannot send SMS",
    "21610": "the customer has opted out (replied STOP)",
    "21612": "Twilio cannot route a message to this number",
    "21614": "the 'To' number is not a mobile number",
    "21617": "the message body is longer than 1,600 characters",
}

#: 4xx codes that are not the message's fault, so the outbox should retry after a backoff:
#: rate limits and full queues pass, and a bad credential is fixed by an operator without
#: the customer's reply being thrown away meanwhile.
TEMPORARY_ERRORS: Mapping[str, str] = {
    "20003": "Twilio rejected our credentials",
    "20429": "Twilio rate limit reached",
    "21611": "the sender's outbound queue is full",
}

_OTHER_CHANNEL_NAMES = {"whatsapp": "WhatsApp", "messenger": "Facebook Messenger", "rcs": "RCS"}

# Senders that are not phone numbers: an alphanumeric sender ID ("ACME", allowed in many
# countries outside North America) or a short code ("384387"; at most 6 digits, so that it is
# never mistaken for a national number).
_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SHORT_CODE = re.compile(r"[0-9]{3,6}")

# Media arrive as MediaUrl0..MediaUrl9; a payload promising more than this is broken.
_MAX_MEDIA = 10
_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


def _first(form: Mapping[str, Any], name: str) -> str | None:
    """Return the first posted value of `name` from a MultiDict, a dict or a dict of lists."""
    value = form.get(name)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return None if value is None else str(value)


def _present(form: Mapping[str, Any], name: str) -> str | None:
    """Return the field's value, or None when it is missing or blank."""
    value = _first(form, name)
    return value if value and value.strip() else None


def _form_of(request: InboundRequest) -> Mapping[str, Any]:
    # The web layer normally decodes the form; a replay from quarantine may only have the bytes.
    if request.form:
        return request.form
    if not request.body:
        return {}
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInbound("webhook body is not UTF-8 form data") from None
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields


def _flat(form: Mapping[str, Any]) -> dict[str, str]:
    return {name: _first(form, name) or "" for name in form}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict is case-sensitive, HTTP headers are not.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _media_filename(url: str, content_type: str, index: int) -> str:
    """Name a media file after the last URL segment (Twilio's ME… sid) plus a fitting suffix."""
    last_segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    stem = _UNSAFE_FILENAME_CHARACTERS.sub("_", last_segment).strip("._") or f"media-{index}"
    if "." not in stem:
        media_type = content_type.split(";")[0].strip().lower()
        stem += mimetypes.guess_extension(media_type, strict=False) or ""
    return stem[:120]


def _media_of(form: Mapping[str, Any]) -> tuple[tuple[InboundAttachment, ...], tuple[str, ...]]:
    """Return the MMS media as remote attachments, and what is wrong with their fields."""
    declared_text = _present(form, "NumMedia") or "0"
    defects: list[str] = []
    try:
        declared = int(declared_text)
    except ValueError:
        declared = 0
        defects.append(f"NumMedia is not a number: {declared_text!r}")
    if declared > _MAX_MEDIA:
        defects.append(f"NumMedia={declared} exceeds Twilio's maximum of {_MAX_MEDIA}")
    attachments = []
    # Walk every possible slot rather than trusting NumMedia alone: a payload that omits
    # or understates it still carries its media.
    for index in range(_MAX_MEDIA):
        url = _present(form, f"MediaUrl{index}")
        if url is None:
            if index < declared:
                defects.append(f"NumMedia={declared} but MediaUrl{index} is missing")
            continue
        content_type = (
            _present(form, f"MediaContentType{index}") or "application/octet-stream"
        ).strip()
        attachments.append(
            InboundAttachment(
                filename=_media_filename(url, content_type, index),
                content_type=content_type,
                data=None,  # a job fetches it later; it must only fetch from Twilio hosts (SSRF)
                url=url.strip(),
            )
        )
    return tuple(attachments), tuple(defects)


def _metadata_of(form: Mapping[str, Any]) -> dict[str, Any]:
    """Return the webhook facts worth keeping with the contact; blank fields are left out."""
    segments = _present(form, "NumSegments")
    metadata: dict[str, Any] = {
        "to": _present(form, "To"),
        "account_sid": _present(form, "AccountSid"),
        "messaging_service_sid": _present(form, "MessagingServiceSid"),
        "num_segments": int(segments) if segments and segments.isdigit() else None,
        "from_city": _present(form, "FromCity"),
        "from_state": _present(form, "FromState"),
        "from_zip": _present(form, "FromZip"),
        "from_country": _present(form, "FromCountry"),
    }
    return {key: value for key, value in metadata.items() if value is not None}


def parse_status_callback(form: Mapping[str, Any]) -> SmsStatusUpdate:
    """Turn a Twilio status callback's form fields into an SmsStatusUpdate.

    Raises:
        InvalidInbound: without a MessageSid, or with a status Twilio does not document
            (the view should answer 400 so a misconfigured webhook is noticed).
    """
    message_sid = _present(form, "MessageSid") or _present(form, "SmsSid")
    if message_sid is None:
        raise InvalidInbound("status callback without MessageSid")
    raw_status = _present(form, "MessageStatus") or _present(form, "SmsStatus")
    if raw_status is None:
        raise InvalidInbound("status callback without MessageStatus")
    status = raw_status.strip().lower()
    if status not in MESSAGE_STATUSES:
        raise InvalidInbound(f"unknown message status {raw_status!r}")
    return SmsStatusUpdate(
        message_sid=message_sid.strip(),
        status=status,
        error_code=_present(form, "ErrorCode"),
        to=_present(form, "To"),
        raw=_flat(form),
    )


class TwilioSmsAdapter(ChannelAdapter):
    """SMS through Twilio Programmable Messaging.

    Inbound WhatsApp ("whatsapp:+31…" senders, likewise "messenger:…") is refused with
    InvalidInbound: it is not a channel of ours, and answering it by SMS would reach the
    customer somewhere they did not write from, at SMS prices. The payload lands in quarantine
    with that reason, so nothing is lost if WhatsApp becomes a channel later. (A WhatsApp sender
    configured without the prefix is indistinguishable from SMS and is read as SMS.)
    """

    channel: ClassVar[Channel] = Channel.sms
    body_max_length: ClassVar[int | None] = SMS_BODY_MAX_LENGTH
    supports_html: ClassVar[bool] = False
    # Inbound MMS media are recorded as remote references; outbound media are not sent.
    supports_attachments: ClassVar[bool] = False
    supports_subject: ClassVar[bool] = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        default_region: str = "NL",
        api_base_url: str | None = None,
        status_callback_url: str | None = None,
        http_timeout: float = 10.0,
        keywords: KeywordTable = TWILIO_DEFAULT_KEYWORDS,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio account SID and auth token are required")
        if not from_number and not messaging_service_sid:
            raise ValueError("configure a Twilio 'From' number or a Messaging Service SID")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = _sender_id(from_number, default_region) if from_number else None
        self.messaging_service_sid = messaging_service_sid
        self.default_region = default_region
        self.api_base_url = api_base_url
        self.status_callback_url = status_callback_url
        self.http_timeout = http_timeout
        self.keywords = keywords
        self._client: Client | None = None

    # --- inbound ---------------------------------------------------------------------------------

    def verify_request(self, request: InboundRequest) -> bool:
        """Tell whether the request carries a valid X-Twilio-Signature for `request.url`.

        `request.url` must be the public URL Twilio called (see `public_request_url`); without
        it nothing can be verified and the answer is False.
        """
        if not request.url:
            return False
        return validate_twilio_signature(
            self.auth_token,
            request.url,
            _form_of(request) if not _is_json(request) else None,
            _header(request.headers, SIGNATURE_HEADER),
            request.body,
            signature_settings=_header(request.headers, SIGNATURE_SETTINGS_HEADER),
        )

    def parse_inbound(self, request: InboundRequest) -> list[Contact]:
        """Turn one inbound-message webhook into a Contact (STOP/START/HELP set its kind).

        Raises:
            InvalidInbound: without a MessageSid or a usable sender, for WhatsApp, or when the
                message has neither text nor media.
            ValueError: when the entry point did not stamp `received_at` (a programming error).
        """
        if request.received_at is None:
            raise ValueError("InboundRequest.received_at is required; the entry point sets it")
        form = _form_of(request)
        message_sid = (
            _present(form, "MessageSid")
            or _present(form, "SmsSid")
            or _present(form, "SmsMessageSid")
        )
        if message_sid is None:
            raise InvalidInbound("missing MessageSid")
        sender_raw = _present(form, "From")
        if sender_raw is None:
            raise InvalidInbound("missing From")
        scheme, colon, _ = sender_raw.strip().partition(":")
        if colon and scheme.lower() != "tel":
            # "whatsapp:+31…", "messenger:…": another Twilio channel on the same webhook.
            name = _OTHER_CHANNEL_NAMES.get(scheme.lower(), scheme)
            raise InvalidInbound(f"{name} is not a configured channel")
        try:
            sender = normalise_phone(sender_raw, self.default_region, strict=False)
        except ValueError as exc:
            raise InvalidInbound(f"sender is not a phone number: {exc}") from None

        body = _first(form, "Body") or ""
        attachments, defects = _media_of(form)
        if not body.strip() and not attachments:
            raise InvalidInbound("empty message")

        return [
            Contact(
                channel=Channel.sms,
                external_id=message_sid.strip(),
                sender=Identity(IdentityKind.phone, sender),
                received_at=request.received_at,
                # The customer's words exactly as sent: no trimming, emoji and all.
                text=body,
                new_text=body,
                kind=classify_keyword(body, self.keywords),
                attachments=attachments,
                defects=defects,
                metadata=_metadata_of(form),
            )
        ]

    def parse_status_callback(self, form: Mapping[str, Any]) -> SmsStatusUpdate:
        """Turn a delivery status callback into an SmsStatusUpdate (see the module function)."""
        return parse_status_callback(form)

    # --- outbound --------------------------------------------------------------------------------

    def client(self) -> Client:
        """Return the Twilio REST client, pointed at `api_base_url` when one is configured."""
        if self._client is None:
            http_client: TwilioHttpClient
            if self.api_base_url:
                http_client = RedirectingTwilioHttpClient(
                    self.api_base_url, timeout=self.http_timeout
                )
            else:
                http_client = TwilioHttpClient(timeout=self.http_timeout)
            self._client = Client(self.account_sid, self.auth_token, http_client=http_client)
        return self._client

    def close(self) -> None:
        """Release the HTTP connection pool."""
        if self._client is not None:
            session = getattr(self._client.http_client, "session", None)
            if session is not None:
                session.close()
            self._client = None

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Ask Twilio to send one SMS; refusals and outages come back as a receipt, not raised.

        `permanent=True` means retrying the same message cannot help (opted out, invalid
        number, too long); otherwise the outbox should retry with backoff. A timeout after
        Twilio accepted the request is indistinguishable from one before it, so a retry can,
        rarely, send the same text twice.
        """
        if message.to.kind is not IdentityKind.phone:
            return _permanent(f"SMS needs a phone number, not a {message.to.kind.value} address")
        try:
            to = normalise_phone(message.to.address, self.default_region, strict=False)
        except ValueError as exc:
            return _permanent(str(exc), code="21211")
        if not message.text.strip():
            return _permanent("the message body is empty", code="21602")
        if len(message.text) > SMS_BODY_MAX_LENGTH:
            return _permanent(
                f"the message body is {len(message.text):,} characters; "
                f"SMS allows at most {SMS_BODY_MAX_LENGTH:,}",
                code="21617",
            )

        request: dict[str, Any] = {"to": to, "body": message.text}
        if self.messaging_service_sid:
            request["messaging_service_sid"] = self.messaging_service_sid
            if message.from_address:  # one number of the service's pool, chosen by the caller
                request["from_"] = message.from_address
        else:
            request["from_"] = message.from_address or self.from_number
        status_callback = message.status_callback_url or self.status_callback_url
        if status_callback:
            request["status_callback"] = status_callback

        try:
            created = self.client().messages.create(**request)
        except (TwilioRestException, TwilioServiceException) as exc:
            return _receipt_for_refusal(exc)
        except OSError as exc:
            # requests' ConnectionError and Timeout derive from OSError (IOError).
            return DeliveryReceipt(accepted=False, error=f"could not reach Twilio: {exc}")
        except TwilioException as exc:
            return DeliveryReceipt(accepted=False, error=f"Twilio client error: {exc}")
        return DeliveryReceipt(
            accepted=True,
            provider_id=created.sid,
            status=str(created.status) if created.status is not None else None,
            error_code=str(created.error_code) if created.error_code else None,
        )


def _sender_id(from_number: str, default_region: str) -> str:
    """Return the configured 'From' as E.164, or unchanged for a sender ID or short code."""
    sender = from_number.strip()
    if _SHORT_CODE.fullmatch(sender):
        return sender
    try:
        return normalise_phone(sender, default_region, strict=False)
    except ValueError:
        if _ALPHANUMERIC_SENDER.fullmatch(sender):
            return sender
        raise


def _is_json(request: InboundRequest) -> bool:
    content_type = _header(request.headers, "Content-Type") or ""
    return content_type.split(";")[0].strip().lower() == "application/json"


def _permanent(error: str, code: str | None = None) -> DeliveryReceipt:
    return DeliveryReceipt(accepted=False, error=error, error_code=code, permanent=True)


def _receipt_for_refusal(exc: TwilioRestException | TwilioServiceException) -> DeliveryReceipt:
    """Map a Twilio API error to a receipt: the error code decides, then the HTTP status."""
    status = int(exc.status) if exc.status is not None else 0
    # Without a Twilio code in the body the SDK repeats the HTTP status as the code.
    code = str(exc.code) if exc.code is not None and exc.code != status else None
    detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
    if code in TEMPORARY_ERRORS:
        return DeliveryReceipt(
            accepted=False, error_code=code, error=f"{TEMPORARY_ERRORS[code]}: {detail}"
        )
    if code in PERMANENT_ERRORS:
        return _permanent(f"{PERMANENT_ERRORS[code]}: {detail}", code)
    # 429 and 5xx are Twilio's load or outage; any other 4xx is about the request itself.
    permanent = 400 <= status < 500 and status != 429
    return DeliveryReceipt(
        accepted=False, error_code=code, error=f"HTTP {status}: {detail}", permanent=permanent
    )
