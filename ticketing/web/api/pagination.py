"""Opaque cursors: base64 of the position after the last item a page returned."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from marshmallow import ValidationError


def encode_cursor(*position: Any) -> str:
    raw = json.dumps(list(position), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """Return the position a cursor encodes.

    Raises:
        ValidationError: (422) when it is not a cursor this API wrote.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        position = None
    if not isinstance(position, list) or len(position) != length:
        raise ValidationError({"cursor": ["Not a cursor from this list; start without one."]})
    return position
