"""Phone number normalisation to E.164, the one form phone identities are stored in."""

from __future__ import annotations

import phonenumbers

# Prefixes some sources put before a number ("tel:" URIs from web forms and courier-style URNs).
_URI_PREFIXES = ("tel:", "sms:")


def normalise_phone(raw: str | None, default_region: str | None, *, strict: bool = True) -> str:
    """Return `raw` as an E.164 string such as "+31612345678".

    A number without a country code ("06 1234 5678") is read in `default_region` (ISO 3166
    alpha-2, e.g. "NL"). With `strict` the number must be valid per libphonenumber's metadata;
    without it, a number that is merely possible (right length for its country) is accepted.
    Provider webhooks use the lenient form: the carrier already delivered from that number,
    and metadata lags behind newly issued ranges, so rejecting it would lose a real customer.

    Raises:
        ValueError: when the input is empty, not a phone number, or not valid as asked.
    """
    text = (raw or "").strip()
    if not text:
        raise ValueError("phone number is empty")
    lowered = text.lower()
    for prefix in _URI_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    if ":" in text:
        # "whatsapp:+31..." and similar addresses belong to another channel, not to SMS.
        raise ValueError(f"not a phone number: {raw!r}")
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r} ({exc})") from None
    acceptable = (
        phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    )
    if not acceptable:
        raise ValueError(f"invalid phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
