"""Value objects that cross the boundary between channel adapters and the services."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Channel(str, enum.Enum):
    """A way a customer can reach us (and we them)."""

    email = "email"
    sms = "sms"
    web = "web"
    memory = "memory"  # the in-memory test adapter


class IdentityKind(str, enum.Enum):
    """How an address identifies a customer."""

    email = "email"
    phone = "phone"


class ContactKind(str, enum.Enum):
    """What an inbound contact is, as far as the adapter can tell from the raw input alone."""

    message = "message"  # a customer wrote to us
    auto_reply = "auto_reply"  # out-of-office, RFC 3834 auto-submitted, list traffic
    bounce = "bounce"  # a delivery failure report about mail we sent
    opt_out = "opt_out"  # SMS STOP and friends
    opt_in = "opt_in"  # SMS START / UNSTOP / YES
    help = "help"  # SMS HELP


@dataclass(frozen=True)
class Identity:
    """An address that belongs to a customer; `address` is already normalised by the adapter."""

    kind: IdentityKind
    address: str  # e-mail lower-cased, phone in E.164
    display_name: str | None = None


@dataclass(frozen=True)
class InboundAttachment:
    """A file that came with a contact, or a reference to remote media not yet fetched."""

    filename: str  # already made safe for storage and display
    content_type: str  # sniffed where possible, else the declared type
    data: bytes | None = None  # None when only a remote URL is known (MMS before fetch)
    url: str | None = None  # provider media URL (MMS)
    content_id: str | None = None  # for inline images in HTML mail
    is_inline: bool = False
    error: str | None = None  # why the content is missing (too large, fetch failed)


@dataclass(frozen=True)
class ThreadHints:
    """What the raw input says about the conversation it belongs to; intake decides."""

    message_id: str | None = None  # without angle brackets
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject_ticket_ref: str | None = None  # e.g. "T-1042" found in the subject
    bounced_message_ids: tuple[str, ...] = ()  # the mail we sent that a bounce is about


@dataclass(frozen=True)
class Contact:
    """One inbound message from a customer, translated from a channel's raw input."""

    channel: Channel
    external_id: str  # unique per channel: Message-ID, MessageSid, submission id
    sender: Identity
    received_at: datetime  # tz-aware UTC
    text: str = ""  # the whole readable text (quoted history included)
    new_text: str = ""  # the customer's own new words: quotes and signature removed
    subject: str | None = None
    html: str | None = None  # sanitised for display, never raw
    kind: ContactKind = ContactKind.message
    language: str | None = None  # "nl", "en", "de", "fr" or None when unsure
    other_identities: tuple[Identity, ...] = ()  # e.g. the phone number a web form also gave
    attachments: tuple[InboundAttachment, ...] = ()
    thread: ThreadHints = field(default_factory=ThreadHints)
    sent_at: datetime | None = None  # what the sender claims (Date header), may be wrong
    defects: tuple[str, ...] = ()  # parser complaints worth showing to an agent
    metadata: Mapping[str, Any] = field(default_factory=dict)  # channel extras (category, media)


@dataclass(frozen=True)
class InboundRequest:
    """Raw input handed to an adapter: bytes plus the transport facts needed to judge them."""

    channel: Channel
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, Any] = field(default_factory=dict)  # decoded form fields
    url: str | None = None  # public URL the provider called (signature checks)
    received_at: datetime | None = None
    source: str | None = None  # where it came from: a file path, "imap:INBOX/42", a remote IP


@dataclass(frozen=True)
class OutboundMessage:
    """A message we send, fully decided by the services; adapters only deliver it."""

    channel: Channel
    to: Identity
    text: str
    subject: str | None = None
    html: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    message_id: str | None = None  # the Message-ID we give it (email)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    is_automatic: bool = False  # acknowledgements and notifications: Auto-Submitted on mail
    ticket_ref: str | None = None
    status_callback_url: str | None = None  # SMS delivery callbacks
    attachments: tuple[InboundAttachment, ...] = ()


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the provider said when we handed it a message."""

    accepted: bool
    provider_id: str | None = None  # SMTP queue id, Twilio MessageSid
    status: str | None = None  # provider status word (queued, sent, ...)
    error_code: str | None = None
    error: str | None = None
    permanent: bool = False  # True: retrying cannot help (invalid address, opted out)


class InvalidInbound(Exception):
    """Raw input an adapter cannot turn into a contact; the reason goes to quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
