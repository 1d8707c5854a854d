"""The again-cue detector: exact spans per language, look-alikes, and properties."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.domain import again
from ticketing.domain.again import KINDS, AgainCue, find_again_cues, is_again

DATA = Path(__file__).resolve().parents[1] / "data"

# (lang, text, [(start, end, match, kind), ...])
POSITIVES = [
    # Dutch
    ("nl", "Mijn internet werkt alweer niet.", [(20, 26, "alweer", "again")]),
    ("nl", "Internet al weer plat!!", [(9, 16, "al weer", "again")]),
    ("nl", "De router is weer kapot.", [(13, 17, "weer", "again")]),
    ("nl", "Weer geen post vandaag", [(0, 4, "Weer", "again")]),
    ("nl", "de bus reed weer eens voorbij", [(12, 16, "weer", "again")]),
    ("nl", "Wéér een storing!", [(0, 4, "Wéér", "again")]),
    ("nl", "weeer geen wifi", [(0, 5, "weeer", "again")]),
    ("nl", "WEER GEEN INTERNET", [(0, 4, "WEER", "again")]),
    ("nl", "Het lekt weer bij het dakraam.", [(9, 13, "weer", "again")]),
    ("nl", "Nu doet het weer niet.", [(12, 16, "weer", "again")]),
    ("nl", "Nog steeds geen reactie op mijn klacht.", [(0, 10, "Nog steeds", "still")]),
    ("nl", "nog stds geen tv", [(0, 8, "nog stds", "still")]),
    ("nl", "De storing is er nog altijd.", [(17, 27, "nog altijd", "still")]),
    ("nl", "Ik heb opnieuw een verkeerde factuur ontvangen.", [(7, 14, "opnieuw", "again")]),
    ("nl", "Ik vraag u nogmaals om op te zeggen.", [(11, 19, "nogmaals", "once_more")]),
    ("nl", "Wederom te laat geleverd.", [(0, 7, "Wederom", "again")]),
    (
        "nl",
        "Voor de zoveelste keer valt de verbinding weg.",
        [(0, 22, "Voor de zoveelste keer", "repeat_count")],
    ),
    ("nl", "Dit is de 3e keer dat het misgaat.", [(7, 17, "de 3e keer", "repeat_count")]),
    (
        "nl",
        "Voor de tweede keer dubbel afgeschreven.",
        [(0, 19, "Voor de tweede keer", "repeat_count")],
    ),
    ("nl", "Ik heb dit al eerder gemeld.", [(11, 27, "al eerder gemeld", "already_contacted")]),
    ("nl", "Ik heb al drie keer gebeld.", [(7, 26, "al drie keer gebeld", "repeat_count")]),
    ("nl", "al 3x gebeld", [(0, 12, "al 3x gebeld", "repeat_count")]),
    (
        "nl",
        "Ik heb jullie al twee keer gemaild.",
        [(14, 34, "al twee keer gemaild", "repeat_count")],
    ),
    (
        "nl",
        "Ik heb gisteren al gebeld over deze storing.",
        [(16, 25, "al gebeld", "already_contacted")],
    ),
    ("nl", "De verwarming valt steeds weer uit.", [(19, 30, "steeds weer", "keeps_happening")]),
    # English
    ("en", "My internet is down again.", [(20, 25, "again", "again")]),
    ("en", "STILL not fixed.", [(0, 5, "STILL", "still")]),
    ("en", "I'm still waiting for my refund.", [(4, 9, "still", "still")]),
    ("en", "I still haven’t received the card.", [(2, 7, "still", "still")]),
    ("en", "Still no update on my case?", [(0, 5, "Still", "still")]),
    ("en", "Once again my parcel was left outside.", [(0, 10, "Once again", "once_more")]),
    ("en", "Yet again the bin was missed.", [(0, 9, "Yet again", "once_more")]),
    (
        "en",
        "This is the 3rd time I'm contacting you.",
        [(8, 20, "the 3rd time", "repeat_count")],
    ),
    (
        "en",
        "For the second time my order came without a charger.",
        [(0, 19, "For the second time", "repeat_count")],
    ),
    ("en", "The app keeps crashing.", [(8, 22, "keeps crashing", "keeps_happening")]),
    ("en", "This keeps happening.", [(5, 20, "keeps happening", "keeps_happening")]),
    (
        "en",
        "I have already called twice.",
        [(7, 27, "already called twice", "already_contacted")],
    ),
    ("en", "I already emailed you the photos.", [(2, 17, "already emailed", "already_contacted")]),
    ("en", "Following up on my email from Tuesday.", [(0, 12, "Following up", "follow_up")]),
    ("en", "Just a follow-up on my complaint.", [(0, 16, "Just a follow-up", "follow_up")]),
    ("en", "I'm writing once more because nothing happened.", [(12, 21, "once more", "once_more")]),
    (
        "en",
        "Wifi dead AGAIN. 4th time in 2 weeks",
        [(10, 15, "AGAIN", "again"), (17, 25, "4th time", "repeat_count")],
    ),
    ("en", "The lift is out of order again.", [(25, 30, "again", "again")]),
    # German
    ("de", "Mein Internet ist schon wieder ausgefallen.", [(18, 30, "schon wieder", "again")]),
    ("de", "Die App funktioniert immer noch nicht.", [(21, 31, "immer noch", "still")]),
    ("de", "Noch immer keine Antwort.", [(0, 10, "Noch immer", "still")]),
    ("de", "Erneut wurde zu viel abgebucht.", [(0, 6, "Erneut", "again")]),
    ("de", "Zum dritten Mal rufe ich an.", [(0, 15, "Zum dritten Mal", "repeat_count")]),
    ("de", "Das Paket wurde wieder nicht zugestellt.", [(16, 22, "wieder", "again")]),
    (
        "de",
        "Die Verbindung bricht immer wieder ab.",
        [(22, 34, "immer wieder", "keeps_happening")],
    ),
    (
        "de",
        "Ich habe bereits zweimal angerufen.",
        [(9, 34, "bereits zweimal angerufen", "repeat_count")],
    ),
    # French
    ("fr", "Ma box est encore en panne.", [(11, 17, "encore", "again")]),
    ("fr", "Ça ne marche toujours pas.", [(13, 25, "toujours pas", "still")]),
    ("fr", "L'application plante à nouveau.", [(21, 30, "à nouveau", "again")]),
    ("fr", "a nouveau plus de reseau", [(0, 9, "a nouveau", "again")]),
    ("fr", "Le colis n'a de nouveau pas été livré.", [(13, 23, "de nouveau", "again")]),
    (
        "fr",
        "Une fois de plus, le train a été supprimé.",
        [(0, 16, "Une fois de plus", "once_more")],
    ),
    (
        "fr",
        "C'est la troisième fois que j'appelle.",
        [(6, 23, "la troisième fois", "repeat_count")],
    ),
    (
        "fr",
        "Pour la énième fois, résiliez mon abonnement.",
        [(0, 19, "Pour la énième fois", "repeat_count")],
    ),
    (
        "fr",
        "J'ai déjà appelé deux fois.",
        [(5, 26, "déjà appelé deux fois", "already_contacted")],
    ),
    ("fr", "deja appele 3 fois !!", [(0, 18, "deja appele 3 fois", "already_contacted")]),
]

# (lang, text): look-alikes that must not fire
NEGATIVES = [
    ("nl", "Het weer is mooi vandaag."),
    ("nl", "Bij slecht weer valt de schotel uit."),
    ("nl", "Volgens het weerbericht gaat het stormen."),
    ("nl", "De weersverwachting is slecht."),
    ("nl", "Het is mooi weer."),
    ("nl", "De app kan mijn saldo niet weergeven."),
    ("nl", "De weergave klopt niet."),
    ("nl", "Er zit te veel weerstand op de lijn."),
    ("nl", "Aan weerszijden staan containers."),
    ("nl", "Ik wil dat graag weerleggen."),
    ("nl", "De tegenweer was onvriendelijk."),
    ("nl", "Ik word heen en weer gestuurd."),
    ("nl", "Weer of geen weer, bel gewoon aan."),
    ("nl", "Het weer is vandaag niet zo goed."),
    ("nl", "Bedankt, het werkt weer!"),
    ("nl", "Nogmaals bedankt!"),
    ("nl", "Probeer het later opnieuw."),
    ("nl", "Ik heb de modem opnieuw opgestart."),
    ("nl", "Mijn pakket is nog niet bezorgd."),
    ("nl", "Ik ben nog steeds tevreden."),
    ("en", "Thanks again for your help!"),
    ("en", "Thank you so much again."),
    ("en", "I would order again."),
    ("en", "Great shop, will buy again."),
    ("en", "I would definitely shop again."),
    ("en", "Still, I think the policy is unfair."),
    ("en", "It arrived damaged, but still, the driver was nice."),
    ("en", "The queue is standing still."),
    ("en", "I ordered still water."),
    ("en", "Is the offer still available?"),
    ("en", "It's working again now."),
    ("en", "Please try again later, says the app."),
    ("en", "The second time zone is wrong."),
    ("en", "I keep my receipts."),
    ("en", "I hope this doesn't happen again."),
    ("en", "If it still doesn't work, what should I do?"),
    ("de", "Auf Wiedersehen!"),
    ("de", "Wie kann ich mein Passwort wiederherstellen?"),
    ("de", "Kann ich die Daten wieder\u00adherstellen?"),
    ("de", "Danke, es funktioniert wieder!"),
    ("de", "Hin und wieder bricht das WLAN ab."),
    ("de", "Vielen Dank nochmal."),
    ("de", "Es ist still in der Leitung."),
    ("de", "Ist das Angebot noch immer gültig?"),
    ("fr", "Encore merci pour votre aide."),
    ("fr", "Je n'ai pas encore reçu ma commande."),
    ("fr", "Il fait encore plus froid."),
    ("fr", "Rien de nouveau sur mon compte."),
    ("fr", "Ça marche à nouveau, merci !"),
    ("fr", "Comme toujours, très sympa."),
    ("fr", "Ça ne marche pas toujours."),
    ("fr", "Je suis toujours satisfait."),
]


def _spans(cues: list[AgainCue]) -> list[tuple[int, int, str, str]]:
    return [(cue.start, cue.end, cue.match, cue.kind) for cue in cues]


@pytest.mark.parametrize(("lang", "text", "expected"), POSITIVES)
def test_cue_is_found_with_its_exact_span(lang, text, expected):
    assert _spans(find_again_cues(text, lang)) == expected


@pytest.mark.parametrize(("lang", "text", "expected"), POSITIVES)
def test_cue_is_found_without_a_language(lang, text, expected):
    assert _spans(find_again_cues(text)) == expected


@pytest.mark.parametrize(("lang", "text"), NEGATIVES)
def test_look_alike_is_no_cue(lang, text):
    assert find_again_cues(text, lang) == []
    assert find_again_cues(text) == []


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("nl-BE", "Weer geen post", [(0, 4, "Weer", "again")]),
        ("NL_nl", "Weer geen post", [(0, 4, "Weer", "again")]),
        ("es", "Weer geen post", [(0, 4, "Weer", "again")]),
        ("", "Weer geen post", [(0, 4, "Weer", "again")]),
        # English rules run with every language: customers mix it in
        (
            "nl",
            "weer geen wifi, again!",
            [(0, 4, "weer", "again"), (16, 21, "again", "again")],
        ),
        # other languages' rules do not run when the language is known
        ("en", "Het werkt alweer niet", []),
        ("fr", "Das ist schon wieder kaputt", []),
    ],
)
def test_language_choice(lang, text, expected):
    assert _spans(find_again_cues(text, lang)) == expected


def test_decomposed_accents_keep_the_original_span():
    text = "We\u0301e\u0301r een storing"
    assert _spans(find_again_cues(text, "nl")) == [(0, 6, "We\u0301e\u0301r", "again")]


def test_characters_that_grow_in_lower_case_keep_the_original_span():
    text = "İnternet alweer plat, İ still İ"
    cues = find_again_cues(text, "nl")
    assert _spans(cues) == [(9, 15, "alweer", "again")]


def test_several_cues_come_sorted_and_apart():
    text = "Alweer!! Derde keer deze week geen warm water, en nog steeds geen monteur."
    assert _spans(find_again_cues(text, "nl")) == [
        (0, 6, "Alweer", "again"),
        (9, 19, "Derde keer", "repeat_count"),
        (50, 60, "nog steeds", "still"),
    ]


def test_longest_phrase_wins_an_overlap():
    assert _spans(find_again_cues("Der Router ist schon wieder kaputt.", "de")) == [
        (15, 27, "schon wieder", "again")
    ]


def test_is_again_says_whether_there_is_a_cue():
    assert is_again("down again!!")
    assert not is_again("Thanks again!")
    assert not is_again("")


def test_cue_is_immutable():
    cue = find_again_cues("alweer")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cue.start = 3  # type: ignore[misc]


def _data_texts() -> list[str]:
    texts = [text for _, text, _ in POSITIVES] + [text for _, text in NEGATIVES]
    for name in ("again_cases.jsonl", "again_ibm_sample.jsonl"):
        with (DATA / name).open(encoding="utf-8") as lines:
            texts.extend(json.loads(line)["text"] for line in lines if line.strip())
    return texts


def test_every_match_carries_one_of_its_rule_triggers():
    # The detector skips a rule when none of its trigger words is in the text; a trigger list
    # that misses a form of its own pattern would silently lose cues.
    for text in _data_texts():
        folded, _ = again._fold(text)
        words = again._trigger_words(folded)
        for rule in again._RULES:
            for match in rule.pattern.finditer(folded):
                start = match.start()
                if start and again._is_word_char(folded[start - 1]):
                    continue
                assert not rule.triggers.isdisjoint(words), (rule.pattern.pattern, text)


CUE_FRAGMENTS = st.sampled_from(
    [
        "alweer", "weer", "wéér", "nog steeds", "voor de 3e keer", "al 3x gebeld", "again",
        "still", "keeps crashing", "the 2nd time", "schon wieder", "zum dritten Mal",
        "encore", "à nouveau", "toujours pas", "déjà appelé", "e\u0301", "İ", "ß", "\u00ad",
        " ", ", ", ". ", "!", "'", "’", "-", "3", "x", "het", "niet", "geen", "pas",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(CUE_FRAGMENTS, st.text(max_size=8)), max_size=30).map("".join),
)
LANGS = st.sampled_from([None, "nl", "en", "de", "fr", "xx", "nl-BE"])


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, lang=LANGS)
def test_spans_slice_to_their_match_in_order_without_overlap(text, lang):
    cues = find_again_cues(text, lang)
    previous_end = 0
    for cue in cues:
        assert 0 <= cue.start < cue.end <= len(text)
        assert text[cue.start : cue.end] == cue.match
        assert cue.start >= previous_end
        assert cue.kind in KINDS
        previous_end = cue.end


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=500), lang=LANGS)
def test_any_unicode_text_is_read_without_error(text, lang):
    assert is_again(text, lang) == bool(find_again_cues(text, lang))
