"""Again-cue detector throughput on generated complaint messages, plus its precision and recall.

Usage (from the repository root):

    .venv/bin/python bench/again_cues.py                     # 50,000 messages, seed 7
    .venv/bin/python bench/again_cues.py --messages 200000 --seed 1

The messages are generated here (seeded, no files): customer complaints of 200-500 characters
in Dutch, English, German and French, built from openings, fault descriptions with numbers and
dates, details and closings. About a third carry a repeat phrase ("werkt alweer niet", "still
waiting", "schon wieder", "toujours pas"), a third carry a look-alike ("het weer", "thanks
again", "pas encore", "Wiedersehen"), the rest neither. Each message is run once with its
language given (as intake does when the language is known) and once without (every
language's rules). Throughput is measured on one core (the detector is single-threaded) as
both wall-clock and process CPU time; on a busy machine the CPU figure is the fair one.

It also prints precision and recall on tests/data/again_cases.jsonl and
tests/data/again_ibm_sample.jsonl, the figures recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ticketing.domain.again import find_again_cues  # noqa: E402 - after the path set-up

# Per language: openings, faults, repeat phrases, look-alikes, details and closings. The
# generator picks one of each part and fills {n} (a number) and {d} (a day) in.
PARTS: dict[str, dict[str, list[str]]] = {
    "nl": {
        "open": ["Beste klantenservice,", "Hallo,", "Geachte heer/mevrouw,", "Hoi,", ""],
        "fault": [
            "mijn internet valt sinds {d} steeds uit en de modem knippert oranje.",
            "de factuur van {d} klopt niet, er staat {n} euro te veel op.",
            "mijn pakket met ordernummer {n} is nog niet bezorgd.",
            "de monteur zou {d} komen maar is niet verschenen.",
            "de app geeft een foutmelding bij het betalen van {n} euro.",
            "er staat een afschrijving van {n} euro op mijn rekening die ik niet herken.",
        ],
        "repeat": [
            "Het werkt alweer niet.",
            "Dit is al de {n}e keer dat ik bel.",
            "Ik heb nog steeds geen reactie gehad.",
            "Het is weer kapot, net als vorige maand.",
            "Ik heb dit al eerder gemeld bij uw collega.",
            "Voor de zoveelste keer moet ik hierover mailen.",
            "weer geen bereik!!",
        ],
        "lookalike": [
            "Door het slechte weer kon ik niet thuis zijn.",
            "De app kan mijn verbruik niet weergeven.",
            "Volgens het weerbericht wordt het morgen beter.",
            "Ik word heen en weer gestuurd tussen afdelingen.",
            "Nogmaals bedankt voor het meedenken.",
            "Ik heb de modem opnieuw opgestart, zonder resultaat.",
        ],
        "detail": [
            "Mijn klantnummer is {n}.",
            "Ik ben bereikbaar op werkdagen na 17 uur.",
            "Ik heb een foto van de schade bijgevoegd.",
            "Mijn adres is Dorpsstraat {n} in Utrecht.",
        ],
        "close": ["Met vriendelijke groet, Sanne", "Graag een snelle reactie.", "Groet, Jan", ""],
    },
    "en": {
        "open": ["Hello,", "Dear support team,", "Hi there,", "To whom it may concern,", ""],
        "fault": [
            "my broadband has been dropping since {d} and the router light is red.",
            "the invoice from {d} is wrong, I was charged {n} dollars too much.",
            "my parcel with order number {n} has not arrived.",
            "the engineer was due on {d} but never turned up.",
            "the app shows an error when I try to pay {n} dollars.",
            "there is a payment of {n} dollars on my card that I do not recognise.",
        ],
        "repeat": [
            "It is down again.",
            "This is the {n}th time I am contacting you.",
            "I am still waiting for an answer.",
            "I have already called twice about this.",
            "Following up on my email from {d}.",
            "The app keeps crashing.",
            "STILL not fixed!!",
        ],
        "lookalike": [
            "Thanks again for looking into it.",
            "I would happily order again once this is sorted.",
            "Still, I think your staff were friendly.",
            "The queue was standing still for an hour.",
            "Please try again later, says the website.",
            "Is the spring offer still available?",
        ],
        "detail": [
            "My account number is {n}.",
            "I can be reached on weekdays after 5 pm.",
            "A photo of the damage is attached.",
            "My address is {n} High Street, Leeds.",
        ],
        "close": ["Kind regards, Sam", "Please get back to me soon.", "Thanks, Alex", ""],
    },
    "de": {
        "open": ["Sehr geehrte Damen und Herren,", "Hallo,", "Guten Tag,", ""],
        "fault": [
            "mein Internet fällt seit {d} immer aus und der Router blinkt rot.",
            "die Rechnung vom {d} ist falsch, mir wurden {n} Euro zu viel berechnet.",
            "mein Paket mit der Bestellnummer {n} ist nicht angekommen.",
            "der Techniker sollte am {d} kommen, ist aber nicht erschienen.",
            "die App zeigt beim Bezahlen von {n} Euro einen Fehler.",
        ],
        "repeat": [
            "Es ist schon wieder ausgefallen.",
            "Die App funktioniert immer noch nicht.",
            "Ich habe bereits zweimal angerufen.",
            "Zum dritten Mal schreibe ich Ihnen deswegen.",
            "Wieder keine Lieferung heute.",
        ],
        "lookalike": [
            "Auf Wiedersehen und danke im Voraus.",
            "Wie kann ich mein Passwort wiederherstellen?",
            "Vielen Dank nochmal für Ihre Mühe.",
            "Es ist still in der Leitung.",
            "Danke, die Verbindung funktioniert wieder!",
        ],
        "detail": [
            "Meine Kundennummer ist {n}.",
            "Ich bin werktags nach 17 Uhr erreichbar.",
            "Ein Foto des Schadens ist angehängt.",
        ],
        "close": ["Mit freundlichen Grüßen, Petra", "Bitte melden Sie sich bald.", ""],
    },
    "fr": {
        "open": ["Madame, Monsieur,", "Bonjour,", "Bonsoir,", ""],
        "fault": [
            "ma box internet coupe depuis le {d} et le voyant est rouge.",
            "la facture du {d} est fausse, on m'a facturé {n} euros de trop.",
            "mon colis numéro {n} n'est pas arrivé.",
            "le technicien devait passer le {d} mais n'est jamais venu.",
            "l'application affiche une erreur quand je paie {n} euros.",
        ],
        "repeat": [
            "Ça ne marche toujours pas.",
            "La connexion est encore en panne.",
            "C'est la troisième fois que j'appelle.",
            "J'ai déjà écrit à ce sujet.",
            "L'application plante à nouveau.",
        ],
        "lookalike": [
            "Encore merci pour votre aide.",
            "Je n'ai pas encore reçu de réponse écrite.",
            "Rien de nouveau de mon côté.",
            "Comme toujours, le livreur était aimable.",
            "Ça marche à nouveau sur mon téléphone.",
        ],
        "detail": [
            "Mon numéro client est {n}.",
            "Je suis joignable en semaine après 17 heures.",
            "Une photo des dégâts est jointe.",
        ],
        "close": ["Cordialement, Claire", "Merci de me répondre rapidement.", ""],
    },
}
DAYS = {
    "nl": ["maandag", "gisteren", "12 maart", "vorige week"],
    "en": ["Monday", "yesterday", "12 March", "last week"],
    "de": ["Montag", "gestern", "12. März", "letzter Woche"],
    "fr": ["lundi", "hier", "12 mars", "la semaine dernière"],
}
LANGUAGE_SHARE = [("nl", 0.4), ("en", 0.3), ("de", 0.15), ("fr", 0.15)]


def generate(count: int, seed: int) -> list[tuple[str, str, str]]:
    """Return (language, text, extra) triples of 200-500 characters.

    extra says which sentence was mixed in: "repeat", "lookalike" or "detail".
    """
    rng = random.Random(seed)
    languages = [language for language, _ in LANGUAGE_SHARE]
    weights = [share for _, share in LANGUAGE_SHARE]
    messages = []
    while len(messages) < count:
        language = rng.choices(languages, weights)[0]
        parts = PARTS[language]

        def fill(template: str, language: str = language) -> str:
            return template.format(n=rng.randint(2, 99999), d=rng.choice(DAYS[language]))

        body = [rng.choice(parts["open"]), fill(rng.choice(parts["fault"]))]
        roll = rng.random()
        extra = "repeat" if roll < 1 / 3 else "lookalike" if roll < 2 / 3 else "detail"
        body.insert(rng.randint(1, len(body)), fill(rng.choice(parts[extra])))
        target = rng.randint(200, 480)
        while len(" ".join(body)) < target:
            body.append(fill(rng.choice(parts["detail"] + parts["fault"])))
        body.append(rng.choice(parts["close"]))
        text = " ".join(part for part in body if part)
        if len(text) > 500:
            text = text[:500].rsplit(" ", 1)[0]
        messages.append((language, text, extra))
    return messages


def throughput(
    messages: list[tuple[str, str, str]], with_language: bool
) -> tuple[float, float, dict[str, float]]:
    """Return (messages/s wall clock, messages/s CPU time, share flagged per mixed-in kind)."""
    flagged: dict[str, int] = {}
    total: dict[str, int] = {}
    wall_start = time.perf_counter()
    cpu_start = time.process_time()
    for language, text, extra in messages:
        found = find_again_cues(text, language if with_language else None)
        flagged[extra] = flagged.get(extra, 0) + bool(found)
        total[extra] = total.get(extra, 0) + 1
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    shares = {extra: flagged[extra] / total[extra] for extra in sorted(total)}
    return len(messages) / wall, len(messages) / cpu, shares


def precision_recall(path: Path, split: str | None = None) -> str:
    tp = fp = fn = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if split and row.get("split") != split:
                continue
            found = bool(find_again_cues(row["text"], row.get("lang")))
            tp += found and row["again"]
            fp += found and not row["again"]
            fn += row["again"] and not found
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    messages = generate(args.messages, args.seed)
    lengths = sorted(len(text) for _, text, _ in messages)
    print(f"python {platform.python_version()} on {platform.machine()}; "
          f"{len(messages):,} messages, seed {args.seed}, "
          f"length min {lengths[0]} / median {lengths[len(lengths) // 2]} / max {lengths[-1]}")
    for _, text, _ in messages[:200]:  # warm up (regex caches, branch predictors)
        find_again_cues(text)
    for with_language in (True, False):
        wall, cpu, shares = throughput(messages, with_language)
        label = "language given" if with_language else "language unknown"
        flagged = ", ".join(f"{extra} {share:.1%}" for extra, share in shares.items())
        print(f"{label}: {wall:,.0f} messages/s wall clock, {cpu:,.0f} messages/s CPU; "
              f"flagged by mixed-in sentence: {flagged}")
    data = ROOT / "tests" / "data"
    print(f"again_cases.jsonl: {precision_recall(data / 'again_cases.jsonl')}")
    sample = data / "again_ibm_sample.jsonl"
    print(f"again_ibm_sample.jsonl, all: {precision_recall(sample)}")
    print(f"again_ibm_sample.jsonl, dev (tuned on): {precision_recall(sample, 'dev')}")
    print(f"again_ibm_sample.jsonl, test (held out): {precision_recall(sample, 'test')}")


if __name__ == "__main__":
    main()
