"""Reading raw mail from files, maildirs, mbox files and stdin, in the order it was written."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

_HEADER_PARSER = BytesHeaderParser()
_FALLBACK_DATE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RawMail:
    source: str
    raw: bytes


def read_sources(paths: Iterable[str], stdin: bytes | None = None) -> Iterator[RawMail]:
    """Yield every message under the paths: .eml files, folders of them, maildirs, mbox files.

    "-" stands for one message on standard input (`stdin` holds its bytes).
    """
    for path_text in paths:
        if path_text == "-":
            if stdin:
                yield RawMail("-", stdin)
            continue
        path = Path(path_text)
        if path.is_dir():
            if (path / "cur").is_dir() or (path / "new").is_dir():
                yield from _maildir(path)
            else:
                for child in sorted(p for p in path.rglob("*") if p.is_file()):
                    # .DS_Store, editor swap files, a maildir's .tmp: never mail.
                    if not any(part.startswith(".") for part in child.relative_to(path).parts):
                        yield from _file(child)
        elif path.is_file():
            yield from _file(path)
        else:
            raise FileNotFoundError(path_text)


def _file(path: Path) -> Iterator[RawMail]:
    with path.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        yield from _mbox(path)
    else:
        yield RawMail(str(path), path.read_bytes())


def _mbox(path: Path) -> Iterator[RawMail]:
    box = mailbox.mbox(str(path), create=False)
    try:
        for key in box.iterkeys():
            yield RawMail(f"{path}#{key}", box.get_bytes(key))
    finally:
        box.close()


def _maildir(path: Path) -> Iterator[RawMail]:
    box = mailbox.Maildir(str(path), factory=None, create=False)
    for key in sorted(box.iterkeys()):
        yield RawMail(f"{path}/{key}", box.get_bytes(key))


def written_at(raw: bytes) -> datetime:
    """When the sender says the message was written (Date header); unknown dates sort last."""
    try:
        headers = _HEADER_PARSER.parsebytes(raw[:65536])
        value = headers.get("Date")
        if not value:
            return _FALLBACK_DATE
        when = parsedate_to_datetime(str(value))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        # Inside the try: a date near year 9999 with a negative offset overflows here, and one
        # such message must not stop the whole batch (or every IMAP poll) from being sorted.
        return when.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return _FALLBACK_DATE


def in_written_order(messages: Iterable[RawMail]) -> list[RawMail]:
    """Sort a batch by Date, so an original is taken in before the replies to it."""
    return sorted(messages, key=lambda message: written_at(message.raw))
