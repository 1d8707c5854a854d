"""SMS opt-out / opt-in / help keyword classification, matching Twilio's STOP filtering."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.domain.contact import ContactKind
from ticketing.domain.sms import (
    DUTCH_KEYWORDS,
    TWILIO_DEFAULT_KEYWORDS,
    KeywordTable,
    classify_keyword,
    is_help_keyword,
    is_opt_in_keyword,
    is_opt_out_keyword,
)

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
OPT_IN = ["START", "UNSTOP", "YES"]
HELP = ["HELP", "INFO"]


@pytest.mark.parametrize(
    ("words", "kind"),
    [(OPT_OUT, ContactKind.opt_out), (OPT_IN, ContactKind.opt_in), (HELP, ContactKind.help)],
)
def test_twilio_default_keywords(words, kind):
    for word in words:
        assert classify_keyword(word) is kind
        assert classify_keyword(word.lower()) is kind
        assert classify_keyword(word.title()) is kind


@pytest.mark.parametrize(
    "body",
    [
        "STOP PLEASE",
        "please cancel",
        "stop.",
        "S T O P",
        "OPT OUT",  # Twilio supports OPTOUT, not the two-word form
        "STOPP",
        "",
        "   ",
        "Stopt u maar met die berichten",
        "yes I still have the problem",
    ],
)
def test_not_a_keyword(body):
    assert classify_keyword(body) is ContactKind.message
    assert not is_opt_out_keyword(body)
    assert not is_opt_in_keyword(body)
    assert not is_help_keyword(body)


def test_predicates_agree_with_classify():
    assert is_opt_out_keyword(" Stop\n")
    assert is_opt_in_keyword("yes")
    assert is_help_keyword("Info\t")


def test_dutch_words_only_with_dutch_table():
    dutch = TWILIO_DEFAULT_KEYWORDS.merged(DUTCH_KEYWORDS)

    assert classify_keyword("afmelden") is ContactKind.message
    assert classify_keyword("afmelden", dutch) is ContactKind.opt_out
    assert classify_keyword("Aanmelden", dutch) is ContactKind.opt_in
    assert classify_keyword("HULP", dutch) is ContactKind.help
    assert classify_keyword("STOP", dutch) is ContactKind.opt_out


def test_custom_table_words_are_case_folded():
    table = KeywordTable.of(opt_out=[" Arrêt "])

    assert is_opt_out_keyword("ARRÊT", table)
    assert not is_opt_out_keyword("STOP", table)


def test_default_table_words_do_not_overlap():
    table = TWILIO_DEFAULT_KEYWORDS
    assert not table.opt_out & table.opt_in
    assert not table.opt_out & table.help
    assert not table.opt_in & table.help


@given(
    word=st.sampled_from(OPT_OUT),
    before=st.text(alphabet=" \t\r\n", max_size=3),
    after=st.text(alphabet=" \t\r\n", max_size=3),
    swap=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_opt_out_ignores_surrounding_whitespace_and_case(word, before, after, swap):
    mixed = "".join(ch.lower() if flip else ch for ch, flip in zip(word, swap, strict=False))

    assert classify_keyword(before + mixed + after) is ContactKind.opt_out


@given(word=st.sampled_from(OPT_OUT + OPT_IN + HELP), extra=st.text(min_size=1).filter(str.strip))
def test_keyword_with_other_words_is_a_message(word, extra):
    assert classify_keyword(f"{word} {extra}") is ContactKind.message
