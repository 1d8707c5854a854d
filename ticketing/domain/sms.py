"""SMS rules that need no provider: segment counting, opt-out keywords, delivery status order."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ticketing.domain.contact import ContactKind

#: Twilio refuses longer bodies (error 21617); we refuse them before asking.
SMS_BODY_MAX_LENGTH = 1600

#: Twilio's error code for "the recipient replied STOP": on a send, and in a status callback.
OPT_OUT_ERROR_CODE = "21610"


# --- segments -----------------------------------------------------------------------------------


class SmsEncoding(str, enum.Enum):
    """How a body travels over the air; decides how many characters fit in one segment."""

    gsm7 = "GSM-7"
    ucs2 = "UCS-2"


#: GSM 03.38 default alphabet: each of these costs one septet.
GSM7_BASIC_CHARACTERS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: GSM 03.38 extension table: reached through an escape, so each costs two septets.
GSM7_EXTENSION_CHARACTERS = frozenset("\f^{}\\[~]|€")

# Capacity of one segment in encoded units (septets for GSM-7, UTF-16 code units for UCS-2).
# A multi-part message loses room to the concatenation header in every part.
_SINGLE_SEGMENT_UNITS = {SmsEncoding.gsm7: 160, SmsEncoding.ucs2: 70}
_MULTI_SEGMENT_UNITS = {SmsEncoding.gsm7: 153, SmsEncoding.ucs2: 67}


@dataclass(frozen=True)
class SegmentInfo:
    """How a body will be split on the air interface (and billed)."""

    encoding: SmsEncoding
    segments: int  # 0 for an empty body: there is nothing to send
    length: int  # encoded units: septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int  # units one segment holds: 160/153 (GSM-7) or 70/67 (UCS-2)
    remaining: int  # units still free in the last segment, for a composer's counter


def is_gsm7(text: str) -> bool:
    """Tell whether every character of `text` exists in the GSM-7 alphabet (with extensions)."""
    return all(ch in GSM7_BASIC_CHARACTERS or ch in GSM7_EXTENSION_CHARACTERS for ch in text)


def _unit_costs(text: str, encoding: SmsEncoding) -> list[int]:
    """Return the encoded size of each character, which must stay inside one segment."""
    if encoding is SmsEncoding.gsm7:
        return [2 if ch in GSM7_EXTENSION_CHARACTERS else 1 for ch in text]
    # Characters outside the Basic Multilingual Plane (most emoji) are UTF-16 surrogate pairs.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_segments(text: str) -> SegmentInfo:
    """Count the segments `text` needs, as the network splits it.

    An escaped GSM-7 character and a UTF-16 surrogate pair are never split across two
    segments (phones would show garbage), so a part may carry one unit less than its capacity.
    Twilio's optional "smart encoding" (curly quotes to straight ones) is not modelled: we
    count what we would send.
    """
    encoding = SmsEncoding.gsm7 if is_gsm7(text) else SmsEncoding.ucs2
    costs = _unit_costs(text, encoding)
    length = sum(costs)
    single = _SINGLE_SEGMENT_UNITS[encoding]
    if length == 0:
        return SegmentInfo(encoding, segments=0, length=0, per_segment=single, remaining=single)
    if length <= single:
        return SegmentInfo(encoding, 1, length, single, single - length)

    per_segment = _MULTI_SEGMENT_UNITS[encoding]
    segments, used_in_last = 1, 0
    for cost in costs:
        if used_in_last + cost > per_segment:
            segments += 1
            used_in_last = 0
        used_in_last += cost
    return SegmentInfo(encoding, segments, length, per_segment, per_segment - used_in_last)


# --- opt-out keywords ---------------------------------------------------------------------------


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(word.strip().casefold() for word in words)


@dataclass(frozen=True)
class KeywordTable:
    """Single-word bodies that change a customer's SMS subscription or ask for help."""

    opt_out: frozenset[str] = field(default_factory=frozenset)
    opt_in: frozenset[str] = field(default_factory=frozenset)
    help: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls, *, opt_out: Iterable[str] = (), opt_in: Iterable[str] = (), help: Iterable[str] = ()
    ) -> KeywordTable:
        """Build a table from words in any case."""
        return cls(_folded(opt_out), _folded(opt_in), _folded(help))

    def merged(self, other: KeywordTable) -> KeywordTable:
        """Return a table that knows the words of both."""
        return KeywordTable(
            self.opt_out | other.opt_out, self.opt_in | other.opt_in, self.help | other.help
        )


#: What Twilio's default STOP filtering acts on (long codes and toll-free; Advanced Opt-Out on a
#: Messaging Service can change it). REVOKE and OPTOUT were added by Twilio on 2025-05-14 for the
#: FCC rule. Twilio blocks further sends itself (error 21610), so our default must match its list:
#: a word we treated as opt-out but Twilio did not would silently diverge in the other direction.
TWILIO_DEFAULT_KEYWORDS = KeywordTable.of(
    opt_out=("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
    opt_in=("START", "UNSTOP", "YES"),
    help=("HELP", "INFO"),
)

#: Dutch words customers use. Not in the default because Twilio does not act on them; enable them
#: (merged with the default) only together with the same words in Twilio's Advanced Opt-Out, so
#: our opt-out state and Twilio's blocklist stay the same. "STOP" is already in the default.
DUTCH_KEYWORDS = KeywordTable.of(
    opt_out=("AFMELDEN", "UITSCHRIJVEN"),
    opt_in=("AANMELDEN",),
    help=("HULP",),
)


def _as_keyword(body: str) -> str:
    # Twilio matches the whole body against one word, ignoring surrounding whitespace and case:
    # "STOP PLEASE" and "please stop" are ordinary messages.
    return body.strip().casefold()


def classify_keyword(body: str, keywords: KeywordTable = TWILIO_DEFAULT_KEYWORDS) -> ContactKind:
    """Return opt_out, opt_in or help when the whole body is one keyword, else message."""
    word = _as_keyword(body)
    if word in keywords.opt_out:
        return ContactKind.opt_out
    if word in keywords.opt_in:
        return ContactKind.opt_in
    if word in keywords.help:
        return ContactKind.help
    return ContactKind.message


def is_opt_out_keyword(body: str, keywords: KeywordTable = TWILIO_DEFAULT_KEYWORDS) -> bool:
    """Tell whether the body unsubscribes the sender."""
    return _as_keyword(body) in keywords.opt_out


def is_opt_in_keyword(body: str, keywords: KeywordTable = TWILIO_DEFAULT_KEYWORDS) -> bool:
    """Tell whether the body subscribes the sender again."""
    return _as_keyword(body) in keywords.opt_in


def is_help_keyword(body: str, keywords: KeywordTable = TWILIO_DEFAULT_KEYWORDS) -> bool:
    """Tell whether the body asks for the service's help text."""
    return _as_keyword(body) in keywords.help


# --- delivery status ----------------------------------------------------------------------------

# Twilio's message lifecycle, earliest first. With a Messaging Service a message starts as
# "accepted" (or "scheduled") and is then "queued"; without one it starts "queued". Terminal
# outcomes rank above everything in flight, so a late "sent" never overwrites "delivered".
# Among terminal outcomes positive evidence wins: a carrier's late "delivered" receipt beats an
# earlier "undelivered", and "read" (WhatsApp/RCS) implies delivery. "receiving"/"received" are
# the inbound lane and only ever compared with each other.
_STATUS_RANKS: Mapping[str, int] = {
    "scheduled": 0,
    "accepted": 1,
    "queued": 2,
    "sending": 3,
    "receiving": 3,
    "sent": 4,
    "canceled": 5,
    "failed": 5,
    "undelivered": 5,
    "partially_delivered": 6,
    "delivered": 7,
    "received": 7,
    "read": 8,
}

#: Every MessageStatus Twilio documents for the Message resource.
MESSAGE_STATUSES = frozenset(_STATUS_RANKS)

#: Statuses after which Twilio sends nothing more, except a possible later "delivered"/"read".
TERMINAL_STATUSES = frozenset(
    {"canceled", "failed", "undelivered", "partially_delivered", "delivered", "received", "read"}
)


def status_rank(status: str) -> int:
    """Return the position of a Twilio message status in its lifecycle.

    Raises:
        ValueError: for a status Twilio does not document.
    """
    try:
        return _STATUS_RANKS[status]
    except KeyError:
        raise ValueError(f"unknown message status {status!r}") from None


def is_status_advance(current: str | None, new: str) -> bool:
    """Tell whether a callback saying `new` should replace the stored `current` status.

    Callbacks arrive out of order and are retried, so only a strictly later status is applied;
    an equal one is a duplicate.
    """
    if current is None:
        return True
    return status_rank(new) > status_rank(current)


@dataclass(frozen=True)
class SmsStatusUpdate:
    """A delivery status callback about one message we sent."""

    message_sid: str
    status: str  # one of MESSAGE_STATUSES
    error_code: str | None = None
    to: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict)  # every field as posted

    @property
    def is_opt_out(self) -> bool:
        """Tell whether Twilio refused the message because the recipient replied STOP."""
        return self.error_code == OPT_OUT_ERROR_CODE

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES
