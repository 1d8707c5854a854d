"""The "same customer, new thread" rule: topic similarity, windows, evidence and reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.domain.repeat import (
    PriorTicket,
    RepeatAction,
    RepeatWindows,
    decide_repeat,
    ordinal_contact_label,
    topic_similarity,
    topic_terms,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOWS = RepeatWindows()

NO_SIGNAL = "Sinds gisteren geen mobiel bereik in huis, bellen lukt niet."
BILLING = "Mijn factuur van oktober klopt niet, er staat 12 euro te veel op."


def prior(
    ticket_id: int,
    status: str,
    text: str,
    *,
    subject: str | None = None,
    solved_ago: timedelta | None = None,
    active_ago: timedelta = timedelta(hours=3),
) -> PriorTicket:
    solved_at = NOW - solved_ago if solved_ago is not None else None
    return PriorTicket(
        ticket_id=ticket_id,
        reference=f"T-{ticket_id}",
        status=status,
        opened_at=NOW - timedelta(days=40),
        solved_at=solved_at,
        last_activity_at=solved_at or NOW - active_ago,
        subject=subject,
        text=text,
    )


# ---- topic terms and similarity ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The parcel was delivered late", {"parcel", "deliver", "late"}),
        ("deliveries and delivery", {"deliver"}),
        ("De bezorging van de pakketten", {"bezorg", "pakkett"}),
        ("Rechnungen 48213 ist falsch", {"rechn", "48213", "falsch"}),
        ("Facture déjà payée", {"factur", "paye"}),
        ("again still weer nog steeds toujours", set()),
        ("", set()),
    ],
)
def test_topic_terms_keep_content_words_lightly_stemmed(text, expected):
    assert topic_terms(text) == frozenset(expected)


def test_similarity_of_one_fault_in_two_wordings_clears_the_default_bar():
    first = "No internet since yesterday, the modem light is blinking orange."
    again = "Internet down again, modem blinking orange like last week"
    assert topic_similarity(first, again) >= WINDOWS.min_similarity


def test_similarity_of_unrelated_complaints_stays_low():
    assert topic_similarity(NO_SIGNAL, BILLING) < 0.1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("factuur oktober", "factuur oktober", 1.0),
        ("factuur oktober", "bereik huis", 0.0),
        ("", "factuur", 0.0),
        ("factuur", "factuur oktober bedrag bereik", 0.5),  # 1 / sqrt(1 * 4)
    ],
)
def test_similarity_is_the_cosine_of_the_term_sets(a, b, expected):
    assert topic_similarity(a, b) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(a=st.text(max_size=200), b=st.text(max_size=200))
def test_similarity_is_symmetric_and_between_zero_and_one(a, b):
    value = topic_similarity(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(topic_similarity(b, a))


# ---- decisions ----


def test_open_ticket_with_a_cue_gets_the_message():
    decision = decide_repeat(
        "De factuur is nog steeds niet aangepast", None, NOW,
        [prior(1050, "open", BILLING)], WINDOWS,
    )
    assert decision.action == RepeatAction.append
    assert decision.ticket_id == 1050
    assert [cue.match for cue in decision.cues] == ["nog steeds"]
    assert decision.reason.startswith("same customer wrote about T-1050 (open, last activity 3")
    assert "cue 'nog steeds'" in decision.reason


def test_open_ticket_on_the_same_topic_gets_the_message_without_a_cue():
    decision = decide_repeat(
        "Mobiel bereik in huis is er niet, bellen lukt niet", None, NOW,
        [prior(1050, "pending", NO_SIGNAL)], WINDOWS,
    )
    assert decision.action == RepeatAction.append
    assert decision.similarity >= WINDOWS.min_similarity
    assert decision.cues == ()


def test_recently_solved_ticket_is_reopened():
    decision = decide_repeat(
        "alweer geen bereik!!", None, NOW,
        [prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=2))], WINDOWS,
    )
    assert decision.action == RepeatAction.reopen
    assert decision.ticket_id == 1042
    assert decision.reason == (
        "same customer wrote about T-1042 (solved 2 days ago, within the 7-day reopen window); "
        f"similarity {decision.similarity:.2f}; cue 'alweer'; reopened"
    )


def test_ticket_solved_exactly_at_the_edge_of_the_reopen_window_is_reopened():
    decision = decide_repeat(
        "alweer geen bereik", None, NOW,
        [prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=7))], WINDOWS,
    )
    assert decision.action == RepeatAction.reopen


def test_ticket_solved_before_the_reopen_window_gets_a_linked_follow_up():
    decision = decide_repeat(
        "alweer geen bereik", None, NOW,
        [prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=12))], WINDOWS,
    )
    assert decision.action == RepeatAction.new_linked
    assert decision.ticket_id == 1042
    assert "past the 7-day reopen window, within the 30-day look-back" in decision.reason
    assert decision.reason.endswith("new ticket linked to it")


def test_closed_ticket_without_a_solve_is_never_reopened():
    closed = PriorTicket(
        7, "T-7", "closed", NOW - timedelta(days=3), None, NOW - timedelta(days=1), None,
        NO_SIGNAL,
    )
    decision = decide_repeat("alweer geen bereik", None, NOW, [closed], WINDOWS)
    assert decision.action == RepeatAction.new_linked
    assert "closed without being solved" in decision.reason


def test_ticket_solved_before_the_look_back_is_not_considered():
    decision = decide_repeat(
        "alweer geen bereik", None, NOW,
        [prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=31))], WINDOWS,
    )
    assert decision.action == RepeatAction.new_ticket
    assert decision.ticket_id is None
    assert decision.reason == (
        "the customer writes 'alweer', but has no open ticket and none solved in the last "
        "30 days; new ticket"
    )


def test_open_ticket_idle_past_the_look_back_gets_a_linked_follow_up():
    decision = decide_repeat(
        "alweer geen bereik", None, NOW,
        [prior(1042, "open", NO_SIGNAL, active_ago=timedelta(days=45))], WINDOWS,
    )
    assert decision.action == RepeatAction.new_linked
    assert "open, but untouched for 45 days, longer than the 30-day look-back" in decision.reason


def test_unrelated_contact_opens_a_new_ticket_and_names_the_nearest():
    decision = decide_repeat(
        "Hoe kan ik mijn adres wijzigen?", None, NOW, [prior(1050, "open", BILLING)], WINDOWS
    )
    assert decision.action == RepeatAction.new_ticket
    assert decision.ticket_id is None
    assert decision.reason.startswith("no earlier ticket of this customer matches (nearest: T-1050")
    assert "no again-cue" in decision.reason


def test_first_contact_of_a_customer_is_a_new_ticket():
    decision = decide_repeat("Mijn factuur klopt niet", None, NOW, [], WINDOWS)
    assert decision == decide_repeat("Mijn factuur klopt niet", None, NOW, (), WINDOWS)
    assert decision.action == RepeatAction.new_ticket
    assert decision.reason == (
        "this customer has no open ticket and none solved in the last 30 days; new ticket"
    )


def test_topic_decides_between_two_tickets_when_the_cue_cannot():
    priors = [
        prior(1050, "open", BILLING, active_ago=timedelta(minutes=5)),
        prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=1)),
    ]
    decision = decide_repeat("Alweer geen bereik in huis", None, NOW, priors, WINDOWS)
    assert decision.ticket_id == 1042
    assert decision.action == RepeatAction.reopen


def test_cue_without_topic_prefers_the_open_ticket():
    priors = [
        prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=1)),
        prior(1050, "open", BILLING, active_ago=timedelta(days=2)),
    ]
    decision = decide_repeat("Wéér een storing!", None, NOW, priors, WINDOWS)
    assert decision.ticket_id == 1050
    assert decision.action == RepeatAction.append


def test_quoted_reference_is_evidence_by_itself():
    priors = [prior(1050, "open", BILLING), prior(1042, "open", NO_SIGNAL)]
    decision = decide_repeat("About T-1042: any news?", None, NOW, priors, WINDOWS)
    assert decision.ticket_id == 1042
    assert "the contact quotes T-1042" in decision.reason


def test_reference_inside_a_longer_reference_is_not_a_quote():
    decision = decide_repeat(
        "About T-10420, the new router", None, NOW, [prior(1042, "open", BILLING)], WINDOWS
    )
    assert decision.action == RepeatAction.new_ticket


def test_cue_in_the_subject_counts_as_evidence():
    decision = decide_repeat(
        "Zie onderwerp", "Still no refund", NOW, [prior(1050, "open", BILLING)], WINDOWS
    )
    assert decision.action == RepeatAction.append
    assert decision.cues == ()
    assert "cue 'Still' in the subject" in decision.reason


def test_subject_words_count_for_the_topic():
    decision = decide_repeat(
        "Zie hierboven", "Factuur oktober 12 euro te veel", NOW,
        [prior(1050, "open", BILLING)], WINDOWS,
    )
    assert decision.action == RepeatAction.append


def test_one_shared_word_is_no_evidence_however_short_the_texts():
    # Both mails carry the generic subject "Bestelling": cosine 0.41, but from one word.
    decision = decide_repeat(
        "Tweede", "Bestelling", NOW,
        [prior(1, "open", "Mijn pakket is niet aangekomen.", subject="Bestelling")], WINDOWS,
    )
    assert decision.action == RepeatAction.new_ticket
    assert decision.similarity >= WINDOWS.min_similarity
    assert "similarity 0.41 from 1 shared word only" in decision.reason


def test_ticket_opened_after_the_contact_is_not_a_candidate():
    # A backfill or replay: the contact was written before that ticket existed.
    later = PriorTicket(
        3, "T-3", "open", NOW + timedelta(hours=1), None, NOW + timedelta(hours=1), None,
        NO_SIGNAL,
    )
    decision = decide_repeat("alweer geen bereik", None, NOW, [later], WINDOWS)
    assert decision.action == RepeatAction.new_ticket


def test_higher_similarity_bar_needs_a_closer_topic():
    strict = RepeatWindows(min_similarity=0.95)
    decision = decide_repeat(
        "Mobiel bereik in huis is er niet", None, NOW, [prior(1, "open", NO_SIGNAL)], strict
    )
    assert decision.action == RepeatAction.new_ticket
    assert "below 0.95" in decision.reason


def test_shorter_windows_are_honoured():
    windows = RepeatWindows(look_back=timedelta(days=3), reopen=timedelta(hours=12))
    solved_yesterday = [prior(1042, "solved", NO_SIGNAL, solved_ago=timedelta(days=1))]
    decision = decide_repeat("alweer geen bereik", None, NOW, solved_yesterday, windows)
    assert decision.action == RepeatAction.new_linked
    assert "past the 12-hour reopen window, within the 3-day look-back" in decision.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"look_back": timedelta(days=-1)},
        {"reopen": timedelta(days=-1)},
        {"min_similarity": 1.5},
        {"min_similarity": -0.1},
        {"min_shared_terms": 0},
    ],
)
def test_invalid_windows_are_refused(kwargs):
    with pytest.raises(ValueError):
        RepeatWindows(**kwargs)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200),
    status=st.sampled_from(["new", "open", "pending", "on_hold", "solved", "closed"]),
    days=st.integers(min_value=0, max_value=60),
)
def test_every_decision_has_a_reason_and_a_consistent_target(text, status, days):
    solved_ago = timedelta(days=days) if status in ("solved", "closed") else None
    decision = decide_repeat(
        text, None, NOW,
        [prior(9, status, NO_SIGNAL, solved_ago=solved_ago, active_ago=timedelta(days=days))],
        WINDOWS,
    )
    assert decision.reason
    assert (decision.ticket_id is None) == (decision.action == RepeatAction.new_ticket)
    assert 0.0 <= decision.similarity <= 1.0


# ---- "3rd contact about this" ----


@pytest.mark.parametrize(
    ("n", "lang", "expected"),
    [
        (1, "en", "1st contact about this"),
        (2, "en", "2nd contact about this"),
        (3, "en", "3rd contact about this"),
        (4, "en", "4th contact about this"),
        (11, "en", "11th contact about this"),
        (12, "en", "12th contact about this"),
        (13, "en", "13th contact about this"),
        (21, "en", "21st contact about this"),
        (112, "en", "112th contact about this"),
        (3, "nl", "3e contact hierover"),
        (1, "nl-BE", "1e contact hierover"),
        (3, "de", "3. Kontakt hierzu"),
        (1, "fr", "1er contact à ce sujet"),
        (3, "fr", "3e contact à ce sujet"),
        (3, "es", "3rd contact about this"),
        (3, "", "3rd contact about this"),
    ],
)
def test_ordinal_contact_label(n, lang, expected):
    assert ordinal_contact_label(n, lang) == expected


def test_ordinal_contact_label_refuses_zero():
    with pytest.raises(ValueError):
        ordinal_contact_label(0, "en")
