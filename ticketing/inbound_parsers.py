"""How each channel's stored raw records are read, for reprocessing and for the recovery sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_babel import gettext as _

from ticketing.domain.contact import Channel, InboundRequest
from ticketing.mail_ingest import email_parser
from ticketing.models import InboundRecord
from ticketing.pipeline import Parser
from ticketing.sms_ingest import SmsNotConfigured, sms_parser


class ReprocessUnavailable(RuntimeError):
    """No parser can read the record's channel in this installation; the message is shown."""


def _sms_parser(app: Flask) -> Parser:
    try:
        return sms_parser(app)
    except SmsNotConfigured as error:
        raise ReprocessUnavailable(
            _("SMS is not configured (TWILIO_AUTH_TOKEN is not set).")
        ) from error


def _web_parser(_app: Flask) -> Parser:
    # The form and API parsers live beside their views, which import this module's users.
    from ticketing.web.public import parse_web_record

    return parse_web_record


def _api_parser(_app: Flask) -> Parser:
    from ticketing.web.api.tickets import parse_api_record

    return parse_api_record


def _memory_parser(app: Flask) -> Parser:
    adapter = app.extensions["channels"].get(Channel.memory)

    def parse(record: InboundRecord) -> list[Any]:
        return adapter.parse_inbound(
            InboundRequest(Channel.memory, record.payload, received_at=record.received_at,
                           source=record.source)
        )

    return parse


#: How each channel's stored records are read: the same parser its own entry point uses, so a
#: record processed again is read exactly as it would be if it arrived now.
RECORD_PARSERS: dict[str, Callable[[Flask], Parser]] = {
    "email": email_parser,
    "sms": _sms_parser,
    "web": _web_parser,
    "api": _api_parser,
    "memory": _memory_parser,
}


def parser_for(app: Flask, channel: str) -> Parser:
    """Return the parser for a stored record's channel.

    :raise ReprocessUnavailable: when the channel is unknown or not configured here.
    """
    factory = RECORD_PARSERS.get(channel)
    if factory is None:
        raise ReprocessUnavailable(_("No parser is known for channel %(channel)s.",
                                     channel=channel))
    return factory(app)
