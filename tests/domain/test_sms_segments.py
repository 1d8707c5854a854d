"""SMS segment counting: GSM-7 with its extension table, UCS-2 with surrogate pairs."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.domain.sms import (
    GSM7_BASIC_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
    SegmentInfo,
    SmsEncoding,
    is_gsm7,
    sms_segments,
)

GSM, UCS = SmsEncoding.gsm7, SmsEncoding.ucs2
EMOJI = "😀"  # outside the BMP: a surrogate pair, two UCS-2 units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", SegmentInfo(GSM, 0, 0, 160, 160), id="empty"),
        pytest.param("Hallo", SegmentInfo(GSM, 1, 5, 160, 155), id="short"),
        pytest.param("a" * 160, SegmentInfo(GSM, 1, 160, 160, 0), id="gsm-160-one-segment"),
        pytest.param("a" * 161, SegmentInfo(GSM, 2, 161, 153, 145), id="gsm-161-two-segments"),
        pytest.param("a" * 306, SegmentInfo(GSM, 2, 306, 153, 0), id="gsm-306-two-full"),
        pytest.param("a" * 307, SegmentInfo(GSM, 3, 307, 153, 152), id="gsm-307-three"),
        pytest.param("€" * 80, SegmentInfo(GSM, 1, 160, 160, 0), id="euro-counts-double-fits"),
        pytest.param("€" + "a" * 159, SegmentInfo(GSM, 2, 161, 153, 145), id="euro-tips-over"),
        pytest.param(
            # 306 septets would fill two parts exactly, but the € cannot straddle them
            "a" * 152 + "€" + "a" * 152,
            SegmentInfo(GSM, 3, 306, 153, 152),
            id="escape-not-split-across",
        ),
        pytest.param("€" * 81, SegmentInfo(GSM, 2, 162, 153, 143), id="81-euros"),
        pytest.param("{}[]~|^\\\f€", SegmentInfo(GSM, 1, 20, 160, 140), id="whole-extension-table"),
        pytest.param(
            "Café à Göteborg, ÆØÅ §¿¡ £$¥ @", SegmentInfo(GSM, 1, 30, 160, 130), id="gsm-accents"
        ),
        pytest.param("a\r\nb", SegmentInfo(GSM, 1, 4, 160, 156), id="line-breaks-are-gsm"),
        pytest.param("a" * 70, SegmentInfo(GSM, 1, 70, 160, 90), id="70-gsm"),
        pytest.param("ç", SegmentInfo(UCS, 1, 1, 70, 69), id="lower-c-cedilla-is-not-gsm"),
        pytest.param("ł" + "a" * 69, SegmentInfo(UCS, 1, 70, 70, 0), id="ucs2-70-one-segment"),
        pytest.param("ł" + "a" * 70, SegmentInfo(UCS, 2, 71, 67, 63), id="ucs2-71-two"),
        pytest.param("ł" * 134, SegmentInfo(UCS, 2, 134, 67, 0), id="ucs2-134-two-full"),
        pytest.param("ł" * 135, SegmentInfo(UCS, 3, 135, 67, 66), id="ucs2-135-three"),
        pytest.param(EMOJI * 35, SegmentInfo(UCS, 1, 70, 70, 0), id="35-emoji-fit"),
        pytest.param(EMOJI * 36, SegmentInfo(UCS, 2, 72, 67, 61), id="36-emoji"),
        pytest.param(
            # 134 units would fill two parts exactly, but the pair cannot straddle them
            "a" * 66 + EMOJI + "a" * 66,
            SegmentInfo(UCS, 3, 134, 67, 66),
            id="surrogate-pair-not-split-across",
        ),
        pytest.param("Geen € maar 😡", SegmentInfo(UCS, 1, 14, 70, 56), id="euro-in-ucs2-is-one"),
    ],
)
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected


def test_curly_quote_forces_ucs2():
    assert sms_segments("Don’t").encoding is UCS
    assert sms_segments("Don't").encoding is GSM


def test_is_gsm7():
    assert is_gsm7("Hello {world} €5")
    assert not is_gsm7("Hello 😀")
    assert is_gsm7("")


def test_alphabet_tables():
    assert len(GSM7_BASIC_CHARACTERS) == 127  # 128 code points minus the escape
    assert len(GSM7_EXTENSION_CHARACTERS) == 10
    assert not GSM7_BASIC_CHARACTERS & GSM7_EXTENSION_CHARACTERS


GSM_TEXT = st.text(alphabet=sorted(GSM7_BASIC_CHARACTERS | GSM7_EXTENSION_CHARACTERS))
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))


@given(GSM_TEXT)
def test_gsm_text_counts_septets(text):
    info = sms_segments(text)

    assert info.encoding is GSM
    extension = sum(ch in GSM7_EXTENSION_CHARACTERS for ch in text)
    assert info.length == len(text) + extension


@given(ANY_TEXT)
def test_segments_hold_the_whole_text(text):
    info = sms_segments(text)

    if info.length == 0:
        assert info.segments == 0
    elif info.segments == 1:
        assert info.length <= info.per_segment
    else:
        assert info.per_segment in (153, 67)
        # at most one unit per part is lost to keeping an escape or surrogate pair whole
        assert math.ceil(info.length / info.per_segment) <= info.segments
        assert info.segments <= math.ceil(info.length / (info.per_segment - 1))
    # the last part always holds something, so it is never entirely free
    assert 0 <= info.remaining < info.per_segment or info.segments == 0


@given(ANY_TEXT, ANY_TEXT)
def test_appending_never_reduces_segments_within_an_encoding(text, more):
    before, after = sms_segments(text), sms_segments(text + more)
    if before.encoding is after.encoding:
        assert after.segments >= before.segments
