"""Phone number normalisation to E.164."""

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.phone import normalise_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0612345678", "NL", "+31612345678"),
        ("06-12 34 56 78", "NL", "+31612345678"),
        ("(020) 123 4567", "NL", "+31201234567"),
        ("+31 6 1234 5678", "NL", "+31612345678"),
        ("0031612345678", "NL", "+31612345678"),
        ("+31612345678", None, "+31612345678"),
        ("tel:+31-20-123-4567", "NL", "+31201234567"),
        ("  +491710000000 ", "NL", "+491710000000"),  # zammad corpus, German mobile
        ("+14133881111", "NL", "+14133881111"),  # courier corpus, US
        ("0171 0000000", "de", "+491710000000"),  # region is case-insensitive
    ],
)
def test_normalise_phone(raw, region, expected):
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [None, "", "   ", "Vodafone", "whatsapp:+31612345678", "+31", "12", "+999123456789"],
)
def test_not_a_phone_number_raises(raw):
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(raw, "NL")


def test_national_number_without_region_raises():
    with pytest.raises(ValueError, match="not a phone number"):
        normalise_phone("0612345678", None)


def test_lenient_mode_accepts_possible_but_unassigned_numbers():
    # Ofcom's drama range: the right length for a UK mobile, but never assigned.
    with pytest.raises(ValueError, match="invalid phone number"):
        normalise_phone("+447700900123", "NL")

    assert normalise_phone("+447700900123", "NL", strict=False) == "+447700900123"


def test_lenient_mode_still_rejects_impossible_numbers():
    with pytest.raises(ValueError):
        normalise_phone("+31612", "NL", strict=False)


REGIONS = sorted(
    region
    for region in phonenumbers.SUPPORTED_REGIONS
    if phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
)


@given(st.sampled_from(REGIONS))
def test_national_format_round_trips_to_e164(region):
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )

    assert normalise_phone(e164, None) == e164
    assert normalise_phone(international, "NL") == e164
    assert normalise_phone(national, region) == e164
    assert normalise_phone(normalise_phone(national, region), "NL") == e164
