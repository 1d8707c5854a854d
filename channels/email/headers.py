"""Decode inbound header values leniently and build outbound header values safely."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterable
from email.headerregistry import Address
from email.utils import parseaddr

# Labels mail software writes that Python does not know, or that mean a superset in practice
# (GB2312 mail routinely carries GBK characters, "ISO-8859-1" mail carries Windows-1252).
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "unknown": "utf-8",
    "x-user-defined": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",  # mislabelled 8-bit text is far more common than real ASCII errors
    "ascii": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
}
# Lenient: encoded text may contain spaces (broken encoders, folds inside a word).
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*)\?=")
_QUOTED_OCTET = re.compile(rb"=([0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
MAX_HEADER_TEXT = 4000


def text_codec(charset: str | None) -> str | None:
    """Return a Python text codec for a MIME charset label, or None when there is none."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    # codecs.lookup also finds bytes-to-bytes codecs ("zlib", "hex"): never decode text with them.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


# Mail labelled with one member of a family is often written in another (Shift_JIS bytes in
# an "ISO-2022-JP" word, Big5 in "GB2312"); these are tried after the label itself.
_FAMILIES = {
    "iso2022_jp_ext": ("cp932", "euc_jp"),
    "iso2022_jp": ("cp932", "euc_jp"),
    "cp932": ("euc_jp",),
    "shift_jis": ("cp932", "euc_jp"),
    "euc_jp": ("cp932",),
    "gb18030": ("big5hkscs",),
    "big5hkscs": ("gb18030",),
    "cp949": ("iso2022_kr",),
}
MULTIBYTE_CODECS = frozenset(
    {"iso2022_jp_ext", "iso2022_jp", "cp932", "shift_jis", "euc_jp", "gb18030", "big5hkscs",
     "cp949", "iso2022_kr", "utf_16", "utf_7"}
)


def decode_bytes(
    data: bytes, charset: str | None, fallbacks: Iterable[str] = ()
) -> tuple[str, bool]:
    """Decode bytes with the declared charset, then likely ones; return (text, was_lossy)."""
    candidates: list[str] = []
    for label in (charset, *fallbacks, "utf-8", "cp1252"):
        codec = text_codec(label)
        for name in (codec, *_FAMILIES.get(codec or "", ())):
            if name and name not in candidates:
                candidates.append(name)
    for codec in candidates:
        try:
            return data.decode(codec), False
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    return data.decode(candidates[0] if candidates else "utf-8", errors="replace"), True


def _decode_word_payload(encoding: str, payload: str) -> bytes | None:
    if encoding in "bB":
        compact = re.sub(r"\s+", "", payload)
        padded = compact + "=" * (-len(compact) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return None
    raw = payload.replace("_", " ").encode("utf-8", "surrogateescape")
    return _QUOTED_OCTET.sub(lambda match: bytes([int(match.group(1), 16)]), raw)


def decode_encoded_words(text: str, fallbacks: Iterable[str] = ()) -> str:
    """Decode RFC 2047 encoded words leniently (also inside quotes or glued to other text).

    Adjacent words in one charset are joined before decoding, because encoders split
    multi-byte characters across words.
    """
    if "=?" not in text:
        return text
    pieces: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    position = 0
    fallbacks = tuple(fallbacks)

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            pieces.append(decode_bytes(pending, pending_charset, fallbacks)[0])
        pending, pending_charset = b"", None

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        charset, encoding, payload = match.group(1).lower(), match.group(2), match.group(3)
        decoded = _decode_word_payload(encoding, payload)
        if decoded is None:
            flush()
            pieces.append(between + match.group(0))
            position = match.end()
            continue
        follows_word = pending_charset is not None
        if follows_word and (between.strip() or charset != pending_charset):
            flush()
        # Whitespace between two encoded words is folding, not text (RFC 2047 section 6.2).
        if between.strip() or not follows_word:
            pieces.append(between)
        pending_charset = charset
        pending += decoded
        position = match.end()
    flush()
    pieces.append(text[position:])
    return "".join(pieces)


def storable_text(text: str) -> str:
    """Drop NUL characters and lone surrogates, which databases and nh3 refuse."""
    if text.isascii() and "\x00" not in text:
        return text
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def undo_surrogates(raw: str, fallbacks: Iterable[str] = ()) -> str:
    """Decode raw 8-bit header bytes the stdlib kept as surrogate escapes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in raw):
        return raw
    data = raw.encode("utf-8", "surrogateescape")
    return decode_bytes(data, "utf-8", fallbacks)[0]


def decode_header_value(
    raw: str, fallbacks: Iterable[str] = (), *, collapse_spaces: bool = True
) -> str:
    """Turn a raw header value into display text: unfolded, decoded, without controls."""
    fallbacks = tuple(fallbacks)
    text = undo_surrogates(raw, fallbacks)
    text = _FOLD.sub("", text)
    text = decode_encoded_words(text, fallbacks)
    text = _CONTROL.sub(" ", text).replace("\t", " ")
    if collapse_spaces:
        text = re.sub(r" {2,}", " ", text)
    return storable_text(text.strip()[:MAX_HEADER_TEXT])


# --- outbound -------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n\x00\x0b\x0c\x85\u2028\u2029]+")
_ADDRESS_CHARS = r"[^\s@<>()\[\],;:\"\\]+"
_SIMPLE_ADDRESS = re.compile(rf"^{_ADDRESS_CHARS}@{_ADDRESS_CHARS}\.{_ADDRESS_CHARS}$")


class UnsafeHeaderError(ValueError):
    """A value that cannot be put into an outbound header (a bad address)."""


def clean_header_text(value: str | None, *, limit: int = 900) -> str:
    """Make text safe for one header line: CR, LF and other line breaks become spaces."""
    if not value:
        return ""
    text = _LINE_BREAKS.sub(" ", value)
    text = _CONTROL.sub(" ", text).replace("\t", " ")
    return re.sub(r" {2,}", " ", text).strip()[:limit]


def checked_address(address: str) -> str:
    """Return one plain ASCII mailbox (IDN domains in punycode), else raise UnsafeHeaderError.

    A non-ASCII local part would need SMTPUTF8 end to end, which we do not assume.
    """
    candidate = address.strip()
    if _LINE_BREAKS.search(address) or not _SIMPLE_ADDRESS.match(candidate):
        raise UnsafeHeaderError(f"not a usable e-mail address: {address!r}")
    name, parsed = parseaddr(candidate)
    if parsed != candidate or name:
        raise UnsafeHeaderError(f"not a usable e-mail address: {address!r}")
    local_part, _, domain = candidate.rpartition("@")
    if not local_part.isascii():
        raise UnsafeHeaderError(f"non-ASCII local part needs SMTPUTF8: {address!r}")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise UnsafeHeaderError(f"not a usable domain: {address!r}") from error
    return f"{local_part}@{ascii_domain}"


def mailbox(address: str, display_name: str | None = None) -> Address:
    """Build a From/To mailbox from a checked address and a cleaned display name."""
    local_part, _, domain = checked_address(address).rpartition("@")
    name = clean_header_text(display_name, limit=200)
    return Address(display_name=name, username=local_part, domain=domain)


def checked_message_id(message_id: str) -> str:
    """Return "<id>" for an id without brackets, whitespace or line breaks."""
    bare = message_id.strip().strip("<>")
    if not bare or re.search(r"[\s<>\x00-\x1f\x7f]", bare) or "@" not in bare:
        raise UnsafeHeaderError(f"not a usable Message-ID: {message_id!r}")
    return f"<{bare}>"
