"""The stop-word language guess used for e-mail (ticketing.domain.language)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.domain.language import guess_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Mijn pakket is nog steeds niet bezorgd. Kunt u mij helpen?", "nl"),
        ("Ik heb al drie keer gebeld en er is weer niets gebeurd.", "nl"),
        ("Goedemiddag, de factuur klopt niet. Graag een reactie.", "nl"),
        ("My parcel has still not arrived, can you help me?", "en"),
        ("I have called you three times and nothing happened again.", "en"),
        ("Mein Paket ist immer noch nicht angekommen, können Sie mir helfen?", "de"),
        ("Ich habe schon dreimal angerufen und es ist wieder nichts passiert.", "de"),
        ("Mon colis n'est toujours pas arrivé, pouvez-vous m'aider ?", "fr"),
        ("J'ai déjà appelé trois fois et rien ne s'est passé.", "fr"),
    ],
)
def test_guesses_the_four_languages(text: str, language: str) -> None:
    assert guess_language(text) == language


@pytest.mark.parametrize(
    "text",
    ["", "ok", "Thanks!", "T-1042", "12345 67890", "Lorem ipsum dolor sit amet", "😡😡😡"],
)
def test_unsure_means_none(text: str) -> None:
    assert guess_language(text) is None


def test_mixed_text_follows_the_majority() -> None:
    text = "Hallo, ik wacht nog steeds op mijn bestelling en ik heb geen bericht gehad. Thanks"
    assert guess_language(text) == "nl"


def test_only_the_start_of_a_long_text_is_read() -> None:
    # Bounded work whatever the size (timings live in bench/email_parse.py, not here).
    text = "1234 " * 5_000 + "Mijn pakket is nog steeds niet bezorgd. " * 1_000
    assert guess_language(text) is None


@given(st.text(max_size=500))
def test_any_text_gives_a_known_answer(text: str) -> None:
    assert guess_language(text) in {None, "nl", "en", "de", "fr"}
