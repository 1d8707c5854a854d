"""Strip quoted history and signatures from a reply so only the customer's new words remain."""

from __future__ import annotations

import re

# Every pattern here runs on one line or on a short window of joined lines (at most
# _WINDOW_CHARS), never on the whole text, so a hostile body cannot make a regex backtrack
# through megabytes (github's pathological.txt and email_long_quote.txt are the guards).
_WINDOW_LINES = 5
_WINDOW_CHARS = 500
_SIGNATURE_SCAN_LINES = 25
_SIGNATURE_LINE_CHARS = 200

# Zero-width and direction marks that mail clients put into reply headers; they break matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
_INVISIBLE[0xA0] = " "

# Words that end an attribution line ("On <date>, <name> wrote:"), per language.
_WROTE = (
    r"wrote|writes|sent|schreef|geschreven|schrieb|geschrieben|a\s+[ée]crit|escribi[óo]"
    r"|ha\s+scritto|scrisse|escreveu|napisa[łl](?:a|\(a\))?|skrev|kirjoitti|đã\s+viết|написала?"
    r"|írta|napsala?|yazdı"
)
# Words that open an attribution line, per language (on, op, am, le, el, il, em, w dniu, ...).
_ATTRIBUTION_START = r"on|op|am|le|el|il|em|w\s+dniu|den|p[åa]|d\.|vào|dne|в"

_ATTRIBUTION = re.compile(
    rf"^(?:[-–—_]+\s*)?(?:{_ATTRIBUTION_START})\s.{{0,400}}?(?<!\w)(?:{_WROTE})"
    rf"(?:\s*[:：]?\s*[-–—]*|\s.{{1,200}}?[:：])\s*$",
    re.IGNORECASE,
)
# "Sent from Samsung Mobile <a@b> wrote:", "tir. 18. apr. 2017 kl. 13:09 skrev A <a@b>:" and
# other forms without a known opener: the keyword, perhaps a name, and a colon at the end.
_ATTRIBUTION_TAIL = re.compile(rf"(?<!\w)(?:{_WROTE})(?:\s.{{0,200}}?)?[:：]\s*$", re.IGNORECASE)
# Android: "---- John Smith wrote ----".
_DASHED_ATTRIBUTION = re.compile(
    rf"^[-–—]{{2,}}\s*.{{1,120}}?(?<!\w)(?:{_WROTE})\s*[:：]?\s*[-–—]{{2,}}\s*$", re.IGNORECASE
)
# A reply header glued to the end of the reply's last line: "reply On Wed, ... wrote:".
_INLINE_ATTRIBUTION = re.compile(
    r"(?:[-–—]{2,}\s*)?(?<!\w)On\s.{1,200}?(?<!\w)wrote:\s*$", re.IGNORECASE
)
_SEPARATOR_WORDS = (
    r"original\s+message|reply\s+message|ursprüngliche\s+nachricht|antwort\s+nachricht"
    r"|oprindelig\s+meddelelse|oprindelig\s+besked|oorspronkelijk\s+bericht|origineel\s+bericht"
    r"|oorspronkelijke\s+bericht|message\s+d'origine|message\s+original|mensaje\s+original"
    r"|messaggio\s+originale|ursprungligt\s+meddelande|originalmeddelande"
    r"|opprinnelig\s+melding|alkuperäinen\s+viesti|oryginalna\s+wiadomość"
    r"|wiadomość\s+oryginalna|mensagem\s+original|původní\s+zpráva|исходное\s+сообщение"
)
_ORIGINAL_SEPARATOR = re.compile(
    rf"^\s*[-_=*]{{2,}}\s*(?:{_SEPARATOR_WORDS})\s*[-_=*]*\s*$", re.IGNORECASE
)
# Forwarded mail is what the customer wants us to read, so it is kept, not cut.
_FORWARD_MARKER = re.compile(
    r"^\s*(?:[-_=*]{2,}\s*(?:forwarded\s+message|doorgestuurd\s+bericht"
    r"|weitergeleitete\s+nachricht|message\s+transf[ée]r[ée]|mensaje\s+reenviado"
    r"|messaggio\s+inoltrato|videresendt\s+meddelelse|vidarebefordrat\s+meddelande)"
    r"\s*[-_=*]*|begin\s+forwarded\s+message\s*:|doorgestuurd\s+bericht\s*:"
    r"|anfang\s+der\s+weitergeleiteten\s+nachricht\s*:|début\s+du\s+message\s+réexpédié\s*:)\s*$",
    re.IGNORECASE,
)
_RULE_LINE = re.compile(r"^\s*[-_=*~–—]{5,}\s*$")

# Outlook-style header blocks ("From: / Sent: / To: / Subject:") in the languages we meet.
_FIELD_NAMES = {
    "from": "from|van|von|de|fra|från|od|da|от|发件人|寄件者|差出人|lähettäjä|feladó",
    "date": (
        "sent|date|verzonden|verstuurd|datum|dato|gesendet|envoyé|enviado|inviato|sendt|skickat"
        "|wysłano|data|отправлено|дата|发送时间|日期|送信日時|lähetetty|päivämäärä|küldve"
    ),
    "to": "to|aan|an|à|a|para|til|till|do|кому|收件人|宛先|vastaanottaja|címzett",
    "cc": "cc|kopie|copie|kopia|bcc",
    "subject": (
        "subject|onderwerp|betreff|objet|asunto|oggetto|assunto|emne|ämne|temat|тема|主题"
        "|件名|aihe|tárgy"
    ),
}
_FIELD_LINE = re.compile(
    r"^[ \t]*\*{0,2}[ \t]*(?:"
    + "|".join(f"(?P<{kind}>{names})" for kind, names in _FIELD_NAMES.items())
    + r")[ \t]*\*{0,2}[ \t]*[:：]",
    re.IGNORECASE,
)
_HAS_TIME_OR_YEAR = re.compile(r"\d{1,2}[:.h]\d{2}|\b(?:19|20)\d{2}\b")
_HAS_ADDRESS = re.compile(r"[^\s<>()\[\]]@[^\s<>()\[\]]+\.\w|mailto:", re.IGNORECASE)
_WEEKDAY_OR_MONTH = re.compile(
    r"^(?:mon|tue|wed|thu|fri|sat|sun|ma|di|wo|do|vr|za|zo|mo|mi|fr|sa|so|lun|mar|mer|jeu|ven"
    r"|sam|dim|jan|feb|mrt|apr|may|mei|jun|jul|aug|sep|oct|okt|nov|dec|пн|вт|ср|чт|пт|сб|вс)",
    re.IGNORECASE,
)

# Sign-offs: a line that is only one of these (plus punctuation and perhaps a name) starts the
# signature. Whole-line matching is what keeps "with regards to the payment" in the text.
_SIGN_OFFS = (
    # Dutch
    r"met\s+vriendelijke\s+groet(?:en)?|vriendelijke\s+groet(?:en)?|met\s+hartelijke\s+groet(?:en)?"
    r"|hartelijke\s+groet(?:en)?|met\s+groet(?:en)?|groet(?:en|jes)?|m\.?v\.?g\.?|gr\."
    r"|alvast\s+bedankt|bij\s+voorbaat\s+dank"
    # English
    r"|kind\s+regards|best\s+regards|warm(?:est)?\s+regards|many\s+thanks|regards|best\s+wishes"
    r"|best|cheers|sincerely|yours\s+(?:sincerely|faithfully|truly)|thanks(?:\s+in\s+advance)?"
    r"|thank\s+you|thx|all\s+the\s+best|thanks\s+&\s+regards"
    # German
    r"|mit\s+freundlichen\s+gr[üu](?:ß|ss)en|freundliche\s+gr[üu](?:ß|ss)e|viele\s+gr[üu](?:ß|ss)e"
    r"|beste\s+gr[üu](?:ß|ss)e|liebe\s+gr[üu](?:ß|ss)e|herzliche\s+gr[üu](?:ß|ss)e|gru(?:ß|ss)"
    r"|gr[üu](?:ß|ss)e|mfg|lg|vg"
    # French
    r"|cordialement|bien\s+cordialement|bien\s+à\s+vous|salutations|meilleures\s+salutations"
    r"|sincères\s+salutations|bonne\s+journée|merci(?:\s+d'avance)?"
    # Scandinavian and Polish, as met in the fixtures
    r"|med\s+venlig\s+hilsen|venlig\s+hilsen|hilsen|kh|mvh|med\s+vänliga\s+hälsningar"
    r"|vänliga\s+hälsningar|hälsningar|pozdrawiam|z\s+powa[żz]aniem"
)
# Only capitalised words may follow on the same line ("Regards, Roman"): "Thanks for nothing"
# and "Merci de me rembourser" are sentences, not sign-offs.
_SIGN_OFF_LINE = re.compile(
    rf"^\s*(?:{_SIGN_OFFS})\s*[,.!]*(?:\s+(?-i:[A-ZÀ-ÖØ-Þ])[\w.'-]*){{0,3}}\s*[,.!]*\s*$",
    re.IGNORECASE,
)
# "Sent from my iPhone" and friends; a comma or full stop means a real sentence ("Sent from
# my desk, is much easier") and is left alone.
_DEVICE_FOOTER = re.compile(
    r"^\s*(?:sent\s+(?:from|with|via)\s|get\s+outlook\s+for\s|verzonden\s+(?:vanaf|met|van)\s"
    r"|verstuurd\s+(?:vanaf|met|van)\s|von\s+meinem\s|gesendet\s+(?:von|mit)\s"
    r"|envoyé\s+(?:de|depuis|à\s+partir\s+de)\s|enviado\s+desde\s|inviato\s+da\s)"
    r"[^,.;!?:<>]{1,60}(?:\s*[(<]?https?://[^\s>)]+[)>]?)?\s*$",
    re.IGNORECASE,
)
_DELIMITER = re.compile(r"^(?:--|-- |__+)\s*$")
_LONG_DELIMITER = re.compile(r"^\s*(?:-{3,}|_{3,}|={3,}|—{2,}|–{3,})\s*$")
_DASH_NAME = re.compile(r"^\s*[-/]{1,2}\s?[A-Z][\w.'-]*(?:\s[A-Z][\w.'-]*){0,3}\s*$")
_CONTACT_DETAIL = re.compile(
    r"@|https?://|www\.|\+?\d[\d ()./-]{6,}\d|\b(?:tel|phone|fax|mobile|mob|skype|t|f|m)\s*[.:]",
    re.IGNORECASE,
)


def normalize_text(text: str) -> str:
    """Use plain newlines and drop invisible characters that defeat line matching."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_INVISIBLE)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _window(lines: list[str], start: int, max_lines: int) -> list[tuple[int, str]]:
    """Collect up to max_lines non-blank stripped lines from start (blank lines are skipped)."""
    collected: list[tuple[int, str]] = []
    size = 0
    index = start
    while index < len(lines) and index < start + max_lines + 2 and len(collected) < max_lines:
        stripped = lines[index].strip()
        if stripped:
            size += len(stripped) + 1
            if size > _WINDOW_CHARS:
                break
            collected.append((index, stripped))
        index += 1
    return collected


def _next_content_is_quote(lines: list[str], after: int) -> bool:
    for index in range(after, len(lines)):
        if lines[index].strip():
            return _is_quoted(lines[index])
    return False


def _attribution_span(lines: list[str], index: int) -> int:
    """Return how many lines an "On <date>, <name> wrote:" header at index spans (0: none)."""
    first = lines[index].strip()
    if not first or len(first) > _WINDOW_CHARS:
        return 0
    window = _window(lines, index, _WINDOW_LINES)
    joined = ""
    for last_index, stripped in window:
        joined = f"{joined} {stripped}" if joined else stripped
        if _DASHED_ATTRIBUTION.match(joined):
            return last_index - index + 1
        if _ATTRIBUTION.match(joined):
            # A date or an address is what tells a header from "On Monday I wrote:".
            if _HAS_TIME_OR_YEAR.search(joined) or _HAS_ADDRESS.search(joined):
                return last_index - index + 1
    return 0


def _looks_like_dated_opener(line: str) -> bool:
    stripped = line.strip().lstrip("-–— ")
    return bool(stripped) and (stripped[0].isdigit() or bool(_WEEKDAY_OR_MONTH.match(stripped)))


def _tail_attribution_span(lines: list[str], index: int) -> int:
    """Match a header ending in "<keyword> [name]:" that starts at index (0: none).

    The start line must carry the date (or hold the keyword itself), so the customer's last
    sentence above the header is never taken for part of it.
    """
    window = _window(lines, index, 3)
    joined = ""
    for position, (last_index, stripped) in enumerate(window):
        if last_index - index != position:
            break  # a blank line ends the header
        joined = f"{joined} {stripped}" if joined else stripped
        if not _ATTRIBUTION_TAIL.search(joined):
            continue
        if not (_HAS_ADDRESS.search(joined) or _HAS_TIME_OR_YEAR.search(joined)):
            continue
        if position == 0 or _HAS_TIME_OR_YEAR.search(window[0][1]) or _looks_like_dated_opener(
            window[0][1]
        ):
            return last_index - index + 1
    return 0


def _dated_address_span(lines: list[str], index: int) -> int:
    """Match "26.06.2014, 14:41, "Alex" <a@example.com>:" directly above a quote (any language)."""
    if not _looks_like_dated_opener(lines[index]):
        return 0
    joined = ""
    for last_index, stripped in _window(lines, index, 3):
        joined = f"{joined} {stripped}" if joined else stripped
        if not (_HAS_ADDRESS.search(joined) and _HAS_TIME_OR_YEAR.search(joined)):
            continue
        # "<date> <name> <address>:" is a header whatever follows; a looser ending only
        # counts directly above a quote.
        if re.search(r">\s*[:：]$", joined) or (
            (joined.endswith((":", "：")) or (joined.endswith(">") and "<" in joined))
            and _next_content_is_quote(lines, last_index + 1)
        ):
            return last_index - index + 1
    return 0


def _field_kind(line: str) -> str | None:
    match = _FIELD_LINE.match(line)
    if match is None:
        return None
    return next(kind for kind, value in match.groupdict().items() if value is not None)


def _header_block_span(lines: list[str], index: int) -> int:
    """Return the length of an Outlook-style "From:/Sent:/To:" block at index (0: none)."""
    first_kind = _field_kind(lines[index])
    if first_kind not in ("from", "date"):
        return 0
    kinds = {first_kind}
    last_field = index
    gap = 0
    cursor = index + 1
    while cursor < len(lines) and cursor <= index + 12:
        line = lines[cursor]
        kind = _field_kind(line) if line.strip() else None
        if kind is not None:
            kinds.add(kind)
            last_field = cursor
            gap = 0
        elif not line.strip() and len(kinds) >= 2:
            break
        else:
            gap += 1
            if gap > 2:
                break
        cursor += 1
    if len(kinds) < 2:
        return 0
    block = "\n".join(lines[index : last_field + 1])[:_WINDOW_CHARS * 4]
    if not (_HAS_ADDRESS.search(block) or _HAS_TIME_OR_YEAR.search(block)):
        return 0
    return last_field - index + 1


def _rule_above(lines: list[str], index: int) -> int:
    """Move a cut up over a ruler line ("_____" or "-----") that introduces the header."""
    cursor = index - 1
    while cursor >= 0 and index - cursor <= 3:
        stripped = lines[cursor].strip()
        if _RULE_LINE.match(stripped) or _ORIGINAL_SEPARATOR.match(stripped):
            return cursor
        if stripped:
            break
        cursor -= 1
    return index


def _find_boundary(lines: list[str]) -> tuple[str, int, int] | None:
    """Find the first reply header: (kind, first line, line count) with kind header|forward."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or _is_quoted(line) or len(stripped) > _WINDOW_CHARS:
            continue
        if _FORWARD_MARKER.match(stripped):
            return ("forward", index, 1)
        if _ORIGINAL_SEPARATOR.match(stripped):
            return ("header", index, 1)
        span = (
            _attribution_span(lines, index)
            or _header_block_span(lines, index)
            or _dated_address_span(lines, index)
            or _tail_attribution_span(lines, index)
        )
        if span:
            start = _rule_above(lines, index)
            return ("header", start, index - start + span)
    return None


def _split_inline_attribution(lines: list[str]) -> list[str]:
    """Put a header glued to the reply's last line ("ok On ... wrote:") on its own line."""
    for index, line in enumerate(lines):
        if _is_quoted(line) or len(line) > _WINDOW_CHARS or "wrote" not in line.lower():
            continue
        match = _INLINE_ATTRIBUTION.search(line)
        if match and match.start() > 0 and _next_content_is_quote(lines, index + 1):
            head = line[: match.start()].rstrip()
            if head:
                header = line[match.start() :].lstrip("-–— ")
                return [*lines[:index], head, header, *lines[index + 1 :]]
    return lines


def _quote_block_end(lines: list[str], start: int) -> int:
    """Return the index after the quoted block that starts at start.

    Unquoted lines glued between quoted ones (a link wrapped by the quoting client) belong to
    the quote; a blank line before and after marks a real inline answer instead.
    """
    index = start
    while index < len(lines):
        line = lines[index]
        if _is_quoted(line) or not line.strip():
            index += 1
            continue
        previous_quoted = index > 0 and _is_quoted(lines[index - 1])
        following = index
        while following < len(lines) and lines[following].strip() and not _is_quoted(
            lines[following]
        ):
            following += 1
        if previous_quoted and following < len(lines) and _is_quoted(lines[following]):
            index = following
            continue
        break
    # Leave trailing blank lines to the text that follows.
    while index > start and not lines[index - 1].strip():
        index -= 1
    return index


def _drop_quote_blocks(lines: list[str]) -> list[str]:
    """Remove "> " quoted blocks, keeping a lone quoted-looking line inside a paragraph.

    A single ">" line glued between text lines is usually content (">>> see link <<<").
    """
    kept: list[str] = []
    last_content = max((number for number, line in enumerate(lines) if line.strip()), default=-1)
    index = 0
    while index < len(lines):
        if not _is_quoted(lines[index]):
            kept.append(lines[index])
            index += 1
            continue
        end = _quote_block_end(lines, index)
        quoted_lines = sum(1 for line in lines[index:end] if _is_quoted(line))
        blank_before = index == 0 or not lines[index - 1].strip()
        at_end = end > last_content
        blank_after = at_end or not lines[end].strip()
        if quoted_lines >= 2 or at_end or (blank_before and blank_after):
            _drop_dangling_attribution(kept)
            index = end
        else:
            kept.extend(lines[index:end])
            index = end
    return kept


def _drop_dangling_attribution(kept: list[str]) -> None:
    """Remove a broken header ("... w=" / "rote:") left just above a dropped quote block."""
    cursor = len(kept) - 1
    while cursor >= 0 and not kept[cursor].strip():
        cursor -= 1
    if cursor < 0 or not kept[cursor].rstrip().endswith((":", "：")):
        return
    start = cursor
    while start > 0 and kept[start - 1].strip() and cursor - start < 2:
        start -= 1
    paragraph = " ".join(line.strip() for line in kept[start : cursor + 1])
    if len(paragraph) <= _WINDOW_CHARS and _HAS_ADDRESS.search(paragraph) and (
        _HAS_TIME_OR_YEAR.search(paragraph)
    ):
        del kept[start:]


def _trim_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _strip_quote_lines(lines: list[str], depth: int = 0) -> list[str]:
    lines = _split_inline_attribution(lines)
    boundary = _find_boundary(lines)
    if boundary is None:
        return _drop_quote_blocks(lines)
    kind, start, span = boundary
    if kind == "forward":
        return lines
    before = _drop_quote_blocks(lines[:start])
    after = lines[start + span :]
    cursor = 0
    while cursor < len(after) and not after[cursor].strip():
        cursor += 1
    if cursor < len(after) and _is_quoted(after[cursor]) and depth < 3:
        # Bottom-posting: the quote may be followed by the customer's own words.
        rest = after[_quote_block_end(after, cursor) :]
        return [*before, "", *_strip_quote_lines(rest, depth + 1)]
    if not any(line.strip() for line in before) and depth < 3:
        # A header at the very top (a message pasted under its own headers) is not history.
        return _strip_quote_lines(after, depth + 1)
    return before


def strip_quotes(text: str) -> str:
    """Remove quoted history: reply headers and what follows them, and "> " quoted blocks."""
    lines = normalize_text(text).split("\n")
    kept = _trim_blank_edges(_strip_quote_lines(lines))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in kept))


def _signature_start(
    lines: list[str], sender_name: str | None, sender_address: str | None
) -> int | None:
    """Return the index of the first signature line among the last lines, if any."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return None
    window = content[-_SIGNATURE_SCAN_LINES:]
    name_tokens = _name_tokens(sender_name)
    address = (sender_address or "").lower()
    for position, index in enumerate(window):
        if index == content[0]:
            continue  # the first line of a reply is never its signature
        stripped = lines[index].strip()
        if len(stripped) > _SIGNATURE_LINE_CHARS:
            continue  # signature lines are short; long ones are prose (and costly to scan)
        tail = [lines[i].strip() for i in window[position:]]
        short_tail = all(len(line) <= 100 for line in tail)
        remaining = len(tail)
        if _DELIMITER.match(lines[index]) and remaining <= 15:
            return index
        if _DEVICE_FOOTER.match(stripped) and remaining <= 3:
            return index
        if _SIGN_OFF_LINE.match(stripped) and remaining <= 8 and short_tail:
            return index
        if _DASH_NAME.match(stripped) and remaining <= 3:
            return index
        if _LONG_DELIMITER.match(stripped) and remaining <= 15 and _contact_like(tail[1:]):
            return index
        if (
            remaining <= 8
            and short_tail
            and not lines[index - 1].strip()
            and all(line.strip() for line in lines[index : content[-1] + 1])
            and _mentions_sender(tail, name_tokens, address)
        ):
            return index  # the last paragraph is a name/contact block
    return None


def _name_tokens(sender_name: str | None) -> list[str]:
    if not sender_name:
        return []
    return [token.lower() for token in re.findall(r"[^\W\d_]{3,}", sender_name)]


def _mentions_sender(tail: list[str], name_tokens: list[str], address: str) -> bool:
    first = tail[0].lower()
    if name_tokens and any(token in first for token in name_tokens):
        return True
    return bool(address) and any(address in line.lower() for line in tail)


def _contact_like(lines: list[str]) -> bool:
    return any(
        len(line) <= _SIGNATURE_LINE_CHARS and _CONTACT_DETAIL.search(line) for line in lines
    )


def strip_signature(
    text: str, *, sender_name: str | None = None, sender_address: str | None = None
) -> str:
    """Remove a trailing signature: "-- " blocks, sign-offs, device footers, name blocks."""
    lines = _trim_blank_edges(normalize_text(text).split("\n"))
    footer = _device_footer_index(lines)
    if footer is not None:
        lines = _trim_blank_edges(lines[:footer])
    # Signatures stack ("Best regards, / John" above a "-- " block above a list footer).
    for _ in range(3):
        start = _signature_start(lines, sender_name, sender_address)
        if start is None:
            break
        lines = _trim_blank_edges(lines[:start])
    return "\n".join(lines)


def _device_footer_index(lines: list[str]) -> int | None:
    """Find "Sent from my iPhone": mobile clients put the quoted original below it."""
    first_content = next((index for index, line in enumerate(lines) if line.strip()), 0)
    for index, line in enumerate(lines):
        if index > first_content and len(line) <= 120 and _DEVICE_FOOTER.match(line):
            return index
    return None


def extract_new_text(
    text: str, *, sender_name: str | None = None, sender_address: str | None = None
) -> str:
    """Return the customer's own new words: quoted history and then the signature removed."""
    reply = strip_quotes(text)
    without_signature = strip_signature(
        reply, sender_name=sender_name, sender_address=sender_address
    )
    # A reply that is nothing but a sign-off ("Thanks!") keeps it rather than becoming empty.
    return without_signature if without_signature.strip() else reply
