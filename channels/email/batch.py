"""Parsing raw mail in a helper process: the parser is pure, so it can run beside intake."""

from __future__ import annotations

import pickle
from datetime import datetime

from channels.email.adapter import EmailAdapter
from channels.email.parse import ParseOptions
from ticketing.domain.contact import Channel, Contact, InboundRequest

_adapter: EmailAdapter | None = None

#: one mail to parse: raw bytes, where it came from, when it was stored
MailToParse = tuple[bytes, str | None, datetime]


def start_parser(options: ParseOptions) -> None:
    """Process initializer: build the adapter once, with the app's parse options."""
    global _adapter
    _adapter = EmailAdapter(parse_options=options)


def parse_many(mails: list[MailToParse]) -> list[list[Contact] | BaseException]:
    """Parse each mail in the helper process (see `parse_each`)."""
    assert _adapter is not None, "start_parser() runs first"
    return parse_each(_adapter, mails)


def parse_each(
    adapter: EmailAdapter, mails: list[MailToParse]
) -> list[list[Contact] | BaseException]:
    """Parse each mail; a failure is handed back in its place, never raised."""
    results: list[list[Contact] | BaseException] = []
    for raw, source, received_at in mails:
        try:
            results.append(adapter.parse_inbound(
                InboundRequest(Channel.email, raw, received_at=received_at, source=source)
            ))
        except Exception as error:  # noqa: BLE001 - the caller quarantines it with its reason
            results.append(_portable(error))
    return results


def _portable(error: Exception) -> BaseException:
    """The error itself when it survives pickling, else one that keeps its words."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any pickling failure: keep the message only
        return RuntimeError(f"{error.__class__.__name__}: {error}")
    return error
