"""Guess whether a text is Dutch, English, German or French from its stop words (stdlib only)."""

from __future__ import annotations

import re
from collections import Counter

# Frequent function words per language. Words several languages share ("de", "in", "is",
# "was", "die") count for each of them in proportion, so they never decide on their own.
_STOP_WORDS: dict[str, frozenset[str]] = {
    "nl": frozenset(
        """
        de het een en van ik je jij u uw mijn mij me we wij ons onze is zijn was waren niet
        geen wel dat die deze dit er op aan te met voor naar om bij uit ook maar nog al als dan
        heb hebt heeft hebben had kan kunt kunnen moet moeten wil wilt zou zal worden wordt werd
        wat waar hoe wie waarom graag alstublieft bedankt dank hoi hallo beste geachte groet
        weer alweer steeds opnieuw nu toch even helaas al tot door over na zonder omdat want
        jullie hun hem haar zij ze mee hier daar
        """.split()
    ),
    "en": frozenset(
        """
        the a an and of to in is are was were be been being i you he she it we they my your
        our their me us them this that these those not no yes with for on at by from as but or
        if then have has had do does did can could would should will shall may might must
        what where when why how who which please thanks thank hello hi dear again still
        there here just about into over after before because so very any some all
        """.split()
    ),
    "de": frozenset(
        """
        der die das ein eine einen einem einer und ist sind war waren nicht kein keine ich du
        er sie es wir ihr mein meine mir mich dein sein ihre unser mit für auf an zu von bei
        aus nach um wie was wo wann warum wer bitte danke hallo sehr geehrte geehrter grüße
        noch schon wieder immer auch aber oder wenn dann habe hast hat haben hatte kann
        können muss müssen will würde wurde werden wird den dem des im ins zum zur über
        """.split()
    ),
    "fr": frozenset(
        """
        le la les un une des du de et est sont était étaient ne pas je tu il elle nous vous
        ils elles mon ma mes ton ta votre vos notre nos leur avec pour sur dans par au aux
        que qui quoi où quand pourquoi comment merci bonjour madame monsieur cordialement
        encore toujours déjà aussi mais ou si alors ai as avons avez ont avait peut pouvez
        dois doit faut fait être avoir ce cette ces cela ça très
        """.split()
    ),
}

# How many languages list each word: a shared word gives each of them 1/n of a hit.
_SHARE: dict[str, int] = Counter(word for words in _STOP_WORDS.values() for word in words)

_WORD = re.compile(r"[a-zàâäçéèêëîïôöûùüÿœæß]+")
_MAX_CHARS = 20_000  # the start of a message says enough, and the guess stays fast
_MIN_HITS = 2.0
_MIN_SHARE = 0.15  # at least this share of the words must be stop words of the winner
_MIN_LEAD = 1.5  # and the winner must beat the runner-up by this factor


def guess_language(text: str) -> str | None:
    """Return "nl", "en", "de" or "fr" when the stop words say so clearly, else None."""
    words = _WORD.findall(text[:_MAX_CHARS].lower())
    if not words:
        return None
    counts = Counter(words)
    scores = dict.fromkeys(_STOP_WORDS, 0.0)
    for word, count in counts.items():
        share = _SHARE.get(word)
        if share is None:
            continue
        for language, stop_words in _STOP_WORDS.items():
            if word in stop_words:
                scores[language] += count / share
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score < _MIN_HITS or best_score / len(words) < _MIN_SHARE:
        return None
    if runner_up and best_score < _MIN_LEAD * runner_up:
        return None
    return best
