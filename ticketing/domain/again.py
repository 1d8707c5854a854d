"""Find the words with which a customer says they are asking again (nl, en, de, fr), with spans."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# How it works. The text is lower-cased and stripped of accents one character for one character
# (so "Wéér", "WEER" and "weer" look alike and "a nouveau" matches "à nouveau"), every rule's
# regex runs over that folded copy, and a span found there is also a span of the original text.
# Many cue words have innocent twins ("het weer" is the weather, "thanks again" is politeness,
# "pas encore" means "not yet"), so most rules carry a small check that reads the words around
# the match: a word that signals trouble nearby ("weer niet", "still waiting") makes it a cue, a
# word that signals the innocent reading ("werkt weer!", "would buy again") vetoes it.

KINDS = (
    "again",
    "still",
    "once_more",
    "repeat_count",
    "keeps_happening",
    "already_contacted",
    "follow_up",
)
LANGUAGES = ("nl", "en", "de", "fr")


@dataclass(frozen=True)
class AgainCue:
    """A phrase in which the customer says this happens, or is asked, again."""

    #: offsets into the original text: text[start:end] == match
    start: int
    end: int
    match: str
    #: one of KINDS
    kind: str


# --------------------------------------------------------------------------------------------
# Folding: lower case, accents off, one character in, one character out.

_FOLD_TABLE = str.maketrans(
    {
        **{c: "a" for c in "àáâãäåā"},
        **{c: "e" for c in "èéêëēė"},
        **{c: "i" for c in "ìíîïī"},
        **{c: "o" for c in "òóôõöø"},
        **{c: "u" for c in "ùúûüū"},
        **{c: "y" for c in "ýÿ"},
        "ç": "c",
        "ñ": "n",
        # curly and modifier apostrophes behave like the straight one ("haven’t", "j’ai")
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        # no-break and narrow spaces are spaces for "nog\u00a0steeds"
        "\u00a0": " ",
        "\u202f": " ",
        # a soft hyphen sits inside a word ("wieder\u00adherstellen"): keep the word whole
        "\u00ad": "_",
    }
)
_NEEDS_SLOW_FOLD = re.compile(r"[\u0300-\u036f]")


def _fold(text: str) -> tuple[str, list[int] | None]:
    """Return the folded text and, when it is not aligned with the original, its offsets."""
    lowered = text.lower()
    if lowered.isascii():
        return lowered, None  # nothing to fold, and str.translate is the slow part
    # One char in, one char out is the common case: then folded offsets are original offsets.
    if len(lowered) == len(text) and not _NEEDS_SLOW_FOLD.search(text):
        return lowered.translate(_FOLD_TABLE), None
    # Decomposed accents (e + U+0301) and characters whose lower case is longer ("İ") need a
    # map from folded offsets back to original ones.
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        for lower in char.lower():
            if unicodedata.combining(lower):
                continue
            chars.append(lower.translate(_FOLD_TABLE))
            offsets.append(index)
    offsets.append(len(text))
    return "".join(chars), offsets


def _original_span(text: str, offsets: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if offsets is None:
        return start, end
    original_start = offsets[start]
    original_end = offsets[end - 1] + 1
    # Take the combining accents of the last letter along ("wee\u0301r").
    while original_end < len(text) and unicodedata.combining(text[original_end]):
        original_end += 1
    return original_start, original_end


# --------------------------------------------------------------------------------------------
# Reading the words around a match (on the folded text).

# A comma or a full stop ends the clause the context checks look into: "Still, I think" and
# "Het weer is mooi, maar ..." must not borrow words from the next clause.
_CLAUSE_BREAK = re.compile(r"[.,;:!?\n\r()\[\]\"“”«»|/]|\s-\s|\s–\s")
_TOKEN = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_ELISION = re.compile(r"^(?:[ljnmdstc]|qu)'")
_CONTEXT_CHARS = 90
_BEFORE_CHARS = 40
_CONJUNCTIONS = frozenset("but however though although maar echter aber jedoch mais".split())


def _tokens(fragment: str) -> list[str]:
    # French elisions are stripped so that "j'attends" reads as "attends" and "l'ai" as "ai".
    return [_ELISION.sub("", token) for token in _TOKEN.findall(fragment)]


def _clause_after(folded: str, end: int) -> str:
    tail = folded[end : end + _CONTEXT_CHARS]
    found = _CLAUSE_BREAK.search(tail)
    return tail[: found.start()] if found else tail


def _clause_before(folded: str, start: int) -> str:
    head = folded[max(0, start - _CONTEXT_CHARS) : start]
    last = None
    for last in _CLAUSE_BREAK.finditer(head):  # noqa: B007 - the last break is the one we want
        pass
    return head[last.end() :] if last else head


def _next_words(folded: str, end: int, count: int = 3) -> list[str]:
    return _tokens(_clause_after(folded, end))[:count]


def _prev_words(folded: str, start: int, count: int = 3) -> list[str]:
    words = _tokens(_clause_before(folded, start))
    return words[-count:] if count else words


def _next_char(folded: str, end: int) -> str:
    stripped = folded[end : end + 3].lstrip(" ")
    return stripped[:1]


@dataclass(frozen=True)
class _Context:
    """What a rule's check may look at: the original, the folded copy and the match."""

    text: str
    folded: str
    offsets: list[int] | None
    start: int
    end: int

    @property
    def matched(self) -> str:
        return self.folded[self.start : self.end]

    @property
    def original(self) -> str:
        start, end = _original_span(self.text, self.offsets, self.start, self.end)
        return self.text[start:end]

    def next_words(self, count: int = 3) -> list[str]:
        return _next_words(self.folded, self.end, count)

    def prev_words(self, count: int = 3) -> list[str]:
        return _prev_words(self.folded, self.start, count)

    def clause_before(self) -> list[str]:
        words = _tokens(_clause_before(self.folded, self.start))
        # "but" opens a new clause as surely as a comma: "idk if this is a bug but it keeps
        # crashing" must not read the "if" as a condition on "keeps crashing".
        for index in range(len(words) - 1, -1, -1):
            if words[index] in _CONJUNCTIONS:
                return words[index + 1 :]
        return words

    def next_char(self) -> str:
        return _next_char(self.folded, self.end)


_Check = Callable[[_Context], bool]


@dataclass(frozen=True)
class _Rule:
    kind: str
    languages: tuple[str, ...]
    pattern: re.Pattern[str]
    #: folded words at least one of which every match contains ("#x" stands for "3x", "12x"):
    #: the regex only runs when the text has one of them, which keeps the detector fast
    triggers: frozenset[str]
    check: _Check | None = None
    #: what must stand right before the match ("the third" before "time"): the rule searches
    #: for the rare last word and looks back, because `re` finds a literal fast but not an
    #: alternation of forty ordinals; the match is widened to include it
    before: re.Pattern[str] | None = None


def _any_in(words: Sequence[str], vocabulary: frozenset[str]) -> bool:
    return any(word in vocabulary for word in words)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------
# Dutch

# Words after "weer", "nog steeds", "nog altijd" that say something is wrong.
_NL_TROUBLE = _words(
    """
    niet geen niks niets nooit kapot stuk mis fout foutmelding foutmeldingen storing storingen
    zonder vertraagd vertraging geannuleerd gemist afgeschreven dubbel uit uitgevallen weg
    plat down eruit vast vastgelopen lek lekt lekkage kwijt verkeerd verkeerde onbereikbaar
    offline traag mislukt geweigerd vergeten beschadigd defect probleem problemen gedoe raak
    niemand geblokkeerd onjuist slecht nergens
    """
)
# "weer" also takes these as a sign of repetition: "weer eens", "weer hetzelfde", "nu weer dit".
_NL_WEER_AFTER = _NL_TROUBLE | _words("eens hetzelfde dezelfde opnieuw dit")
# "te" after "weer" only counts in "weer te laat / te veel / te duur".
_NL_TE_TROUBLE = _words("laat veel duur hoog weinig vroeg traag")
# One word before "weer" that makes it a complaint: "nu weer", "het lekt weer", "storing weer??".
_NL_WEER_BEFORE = _words(
    """
    nu helaas steeds telkens lekt lekte hapert haperde crasht crashte faalt faalde storing
    storingen probleem problemen kapot stuk mis fout lekkage
    """
)
# One word before "weer" that makes it the weather: "het weer", "slecht weer", "wat een weer".
# After these, "weer" is still a cue when the very next word is trouble ("doet het weer niet").
_NL_WEATHER_BEFORE = _words(
    """
    het 't dit dat een slecht slechte mooi mooie lekker lekkere goed goede rot guur gure koud
    koude warm warme nat natte zonnig zonnige herfst zomer winter zomers winters druilerig
    heerlijk prachtig prachtige onstuimig wisselvallig regenachtig helder zulk zulke door
    vanwege ondanks bij welk welke beter betere
    """
)
_NL_WEATHER_IMMEDIATE_TROUBLE = _words("niet geen kapot stuk mis fout eens raak plat down")
# Trouble nouns earlier in the clause: "De storing is er nog altijd."
_NL_TROUBLE_NOUNS = _words("storing storingen probleem problemen lekkage fout klacht")
_NL_WAIT = _words("wacht wachten wachtend wachtte")
# "opnieuw" after a request or an attempt is the customer's own retry, not a repeat.
_NL_OPNIEUW_VETO_BEFORE = _words(
    "probeer proberen probeert probeerde geprobeerd kunt kunnen kun kan graag moet moeten wil"
)
_NL_OPNIEUW_VETO_AFTER = re.compile(
    r"(?:op)?start|opgestart|geinstalleer|installe|ingesteld|instel|begin|begonnen|stur|"
    r"verstuur|verzend|inlog|ingelogd|aanmeld|aangemeld|prober|geprobeerd|laden|geladen|"
    r"opstart|opgeladen|aanvragen|aangevraagd|proberen"
)
_NL_THANKS = _words("bedankt dank dankjewel dankuwel bedankje thanks thx")
_NL_BLIJFT_VETO = _words("werken bestaan gelden geldig goed tevreden klant")
_NL_CONTACT_PARTICIPLES = (
    r"gebeld|gemaild|ge-maild|gemeld|geschreven|aangegeven|doorgegeven|gecontacteerd|geklaagd|"
    r"ingediend|gereclameerd|geappt|gewhatsappt|getweet|gevraagd|uitgelegd|aangekaart|"
    r"contact\s+gehad|contact\s+opgenomen|een\s+klacht|een\s+melding"
)
# Failures counted in Dutch: "al vijf keer uitgevallen".
_NL_FAILURE_PARTICIPLES = r"uitgevallen|gecrasht|vastgelopen|mislukt|weggevallen|geweigerd"
_NL_COUNT_WORDS = (
    r"twee|drie|vier|vijf|zes|zeven|acht|negen|tien|meerdere|verschillende|talloze|"
    r"ontelbare|zoveel|zo\s*veel|zo\s*vaak|vaak|\d+"
)


def _nl_weer(ctx: _Context) -> bool:
    if not ctx.original.isascii() or len(ctx.matched) > 4:
        # "wéér" and "weeer" are written with emphasis: only a complaint stretches "weer".
        return True
    before = ctx.prev_words(2)
    after = ctx.next_words(3)
    prev = before[-1] if before else ""
    # Idioms: "heen en weer" (back and forth), "weer of geen weer" (come rain or shine),
    # "weer en wind" (the elements).
    if before[-2:] == ["heen", "en"] or after[:2] in (["of", "geen"], ["en", "wind"]):
        return False
    if prev == "geen" and before[-2:-1] == ["of"]:
        return False
    if prev in _NL_WEATHER_BEFORE:
        # "het weer is slecht" is the weather; "doet het weer niet" is not.
        return bool(after) and after[0] in _NL_WEATHER_IMMEDIATE_TROUBLE
    if prev in _NL_WEER_BEFORE:
        return True
    for index, word in enumerate(after):
        if word in _NL_WEER_AFTER:
            return True
        if word == "te" and index + 1 < len(after) and after[index + 1] in _NL_TE_TROUBLE:
            return True
    return False


def _nl_still(ctx: _Context) -> bool:
    # "nog steeds" is a cue when trouble follows ("nog steeds geen reactie"), when the customer
    # waits ("ik wacht nog steeds") or the clause is about a fault ("de storing is er nog
    # altijd"); "ik ben nog steeds tevreden" and "nog altijd geldig" are not.
    if _any_in(ctx.next_words(3), _NL_TROUBLE):
        return True
    before = ctx.clause_before()
    return _any_in(before[-2:], _NL_WAIT) or _any_in(before, _NL_TROUBLE_NOUNS)


def _nl_opnieuw(ctx: _Context) -> bool:
    if _any_in(ctx.clause_before(), _NL_OPNIEUW_VETO_BEFORE):
        return False
    after = ctx.next_words(1)
    return not (after and _NL_OPNIEUW_VETO_AFTER.match(after[0]))


def _nl_not_thanks(ctx: _Context) -> bool:
    # "Nogmaals bedankt", "wederom dank": thanks again.
    return not _any_in(ctx.next_words(2), _NL_THANKS)


def _nl_blijft(ctx: _Context) -> bool:
    verb = ctx.matched.split()[-1]
    return verb not in _NL_BLIJFT_VETO


# --------------------------------------------------------------------------------------------
# English

# Words straight after "still" that make it "still not fixed" rather than "still, I think",
# "still available" or "still water".
_EN_STILL_NEXT = _words(
    """
    not no nothing none never nobody noone waiting awaiting unable broken down dead out failing
    faulty missing stuck locked pending unresolved unanswered being getting having seeing
    showing experiencing happening occurring charging billing offline wrong incorrect same
    crashing freezing dropping disconnecting useless slow late delayed cancelled canceled
    overcharging sending receiving unfixed unpaid nowhere disabled unavailable inaccessible
    blocked frozen unresponsive erroring errors error issues problems buggy bugged glitching
    glitched lagging laggy expired blank unusable suspended hacked ignore ignores ignoring
    says tells shows displays reads asks prompts appear appears lists
    there's isn't aren't wasn't weren't
    don't doesn't didn't can't cannot couldn't won't wouldn't haven't hasn't hadn't ain't isnt
    arent wasnt werent dont doesnt didnt cant couldnt wont wouldnt havent hasnt hadnt
    """
)
_EN_STILL_NEXT_PAIRS = frozenset(
    {("an", "issue"), ("a", "issue"), ("a", "problem"), ("the", "same"), ("need", "help"),
     ("needs", "help"), ("need", "assistance"), ("no", "luck")}
)
_EN_HAVE = _words("have has had")
# Before "still": "stand still", "hold still", "sit still".
_EN_STILL_VETO_PREV = _words("stand stands standing stood hold holding sit sitting stay keep")
_EN_HYPOTHETICAL = _words("if whether unless when")
_EN_THANKS = _words("thanks thank thx ty tnx cheers thankyou")
# A modal in the clause before "again" makes it future or hypothetical: "will buy again",
# "so I can watch again", "never again". Only the last few words count: tweets run on without
# commas, and a modal eight words back belongs to another thought.
_EN_MODAL = _words(
    "will 'll would 'd could can shall should wanna gonna able please let never if maybe might"
)
# Wishes count only with a person wishing: "I hope this doesn't happen again", "we'd love to
# shop again"; "you're my hope and you keep failing me" is no wish.
_EN_WISH = _words("hope hoping wish want wants wanted love like")
_EN_PERSONS = _words("i we i'd we'd i'm we're i've")
_EN_MODAL_WINDOW = 8
# The word right before "again" that makes it a restoration or the customer's own action:
# "working again", "up again", "back to normal again", "checked again", "then again".
_EN_AGAIN_VETO_PREV = _words(
    """
    working works work worked up normal online fine running available ok okay good great
    open then checked check tried try retry looked look searched refreshed restarted rebooted
    reinstalled reset logged sign signed buy bought shop shopped purchase purchased fly book
    booked visit recommend use stay
    """
)


def _en_split_modal(word: str) -> str:
    # "i'll", "we'd", "you'll" hold a modal in their tail.
    for tail in ("'ll", "'d"):
        if word.endswith(tail):
            return tail
    return word


def _en_modal_before(ctx: _Context) -> bool:
    words = ctx.clause_before()[-_EN_MODAL_WINDOW:]
    for index, word in enumerate(words):
        if _en_split_modal(word) in _EN_MODAL:
            return True
        if word in _EN_WISH and index and words[index - 1] in _EN_PERSONS:
            return True
    return False


def _en_again(ctx: _Context) -> bool:
    before = ctx.clause_before()
    if _any_in(before, _EN_THANKS) or _any_in(ctx.next_words(1), _EN_THANKS):
        return False
    if _en_modal_before(ctx):
        return False
    if before:
        prev = before[-1]
        if prev == "order":
            # "order again" is purchase intent; "out of order again" is a fault.
            return before[-2:-1] == ["of"]
        if prev in _EN_AGAIN_VETO_PREV:
            return False
    return True


def _en_not_modal(ctx: _Context) -> bool:
    return not _en_modal_before(ctx)


def _en_still(ctx: _Context) -> bool:
    if ctx.next_char() == ",":
        return False  # "Still, I think ...", "but still, ..."
    before = ctx.clause_before()
    if before and before[-1] in _EN_STILL_VETO_PREV:
        return False
    if _any_in(before, _EN_HYPOTHETICAL):
        return False  # "if it still doesn't work ..."
    after = ctx.next_words(2)
    if not after:
        # "It still isn't." ends a sentence: the negation is then in "isn't" itself; a bare
        # "still" at the end of a clause ("broken still") counts when the clause was negative.
        return False
    if after[0] in _EN_STILL_NEXT:
        return True
    if after[0] in _EN_HAVE and len(after) > 1:
        return after[1] in ("no", "not", "nothing")  # "I still have no working line"
    return tuple(after) in _EN_STILL_NEXT_PAIRS


_EN_CONTACT_VERBS = (
    r"called|rang|phoned|rung|emailed|e-mailed|mailed|messaged|contacted|tweeted|dm'?e?d|"
    r"written|wrote|complained|reported|chatted|reached\s+out|spoken|spoke|talked|asked|"
    r"raised|logged|filed|submitted|sent"
)
_EN_COUNT = (
    r"twice|thrice|(?:two|three|four|five|six|seven|eight|nine|ten|several|multiple|many|"
    r"numerous|countless|a\s+few|a\s+couple\s+of|a\s+dozen|\d+)\s*(?:times|x)|\d+x"
)
_EN_ORDINALS = (
    r"second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|seventh|7th|eighth|8th|ninth|9th|"
    r"tenth|\d+th|umpteenth|nth|n-th|hundredth|millionth|zillionth|gazillionth|twentieth|"
    r"fifteenth|twelfth"
)


# --------------------------------------------------------------------------------------------
# German

_DE_TROUBLE = _words(
    """
    nicht nichts kein keine keinen keinem keiner kaputt defekt ausgefallen aus falsch falsche
    falscher falschen falsches abgebucht berechnet storniert gestort storung storungen
    abgesturzt abgebrochen weg tot offline down verspatet verspatung einmal mal problem
    probleme fehler fehlermeldung ausfall abgelehnt gesperrt doppelt niemand niemanden
    vergessen beschadigt ohne unterbrochen
    """
)
_DE_WIEDER_BEFORE = _words("mal leider jetzt nun heute erneut standig gestern schon")
_DE_WIEDER_VETO_PREV = _words("hin nie nimmer")
_DE_TROUBLE_NOUNS = _words("storung storungen problem probleme fehler ausfall")
_DE_WAIT = _words("warte warten wartet")
_DE_REQUEST = _words(
    "versuchen versuche versuchen probieren probiere bitte konnen konnten kann kannst wurden"
)
_DE_THANKS = _words("dank danke dankeschon")
_DE_CONTACT_PARTICIPLES = (
    r"angerufen|geschrieben|gemeldet|gemailt|kontaktiert|reklamiert|beschwert|mitgeteilt|"
    r"telefoniert|geschildert|erwahnt|erklart|nachgefragt|angefragt|eingereicht|"
    r"kontakt\s+aufgenommen|bescheid\s+gegeben"
)


def _de_wieder(ctx: _Context) -> bool:
    before = ctx.prev_words(2)
    after = ctx.next_words(3)
    prev = before[-1] if before else ""
    if prev in _DE_WIEDER_VETO_PREV or (after and after[0] in ("gerne", "gern")):
        return False  # "hin und wieder", "nie wieder", "immer wieder gerne"
    if before[-2:] == ["hin", "und"]:
        return False
    if prev in _DE_WIEDER_BEFORE:
        return True
    if after and after[0] == "da":
        # "Die Störung ist wieder da": the fault is back (not "ich bin wieder da").
        return _any_in(ctx.clause_before(), _DE_TROUBLE_NOUNS)
    for index, word in enumerate(after):
        if word in _DE_TROUBLE:
            return True
        if word == "zu" and index + 1 < len(after) and after[index + 1] in ("spat", "viel"):
            return True
    return False


def _de_schon_wieder(ctx: _Context) -> bool:
    # Folding makes "schön wieder" look like "schon wieder".
    return not ctx.original.lower().startswith("schön")


def _de_immer_wieder(ctx: _Context) -> bool:
    return not _any_in(ctx.next_words(1), _words("gerne gern"))


def _de_still(ctx: _Context) -> bool:
    if _any_in(ctx.next_words(3), _DE_TROUBLE | _words("offen ungelost")):
        return True
    before = ctx.clause_before()
    return _any_in(before[-2:], _DE_WAIT) or _any_in(before, _DE_TROUBLE_NOUNS)


def _de_erneut(ctx: _Context) -> bool:
    # "Bitte versuchen Sie es später erneut" quotes an error message.
    if _any_in(ctx.clause_before(), _DE_REQUEST):
        return False
    return not _any_in(ctx.next_words(1), _words("versuchen probieren anmelden einloggen"))


def _de_nochmal(ctx: _Context) -> bool:
    # "Vielen Dank nochmal" thanks; "Können Sie ... noch einmal zusenden?" asks.
    before = ctx.clause_before()
    if _any_in(before, _DE_THANKS | _DE_REQUEST) or _any_in(ctx.next_words(3), _DE_THANKS):
        return False
    return True


# --------------------------------------------------------------------------------------------
# French

_FR_ENCORE_NEXT = _words(
    """
    une un en ete moi cette ce ces des du de casse cassee coupe coupee tombe tombee bloque
    bloquee plante refuse refusee annule annulee perdu perdue facture facturee debite debitee
    preleve prelevee rate ratee sans rien arrive une fois
    """
)
_FR_ENCORE_VETO_NEXT = _words(
    "merci bravo plus mieux moins jamais pas rien longtemps heureux heureuse possible"
)
_FR_ENCORE_VETO_PREV = _words("pas merci jamais")
_FR_INTENT = _words(
    """
    voudrais voudrions aimerais aimerions souhaite souhaiterais veux voulons commander
    acheter revenir reviendrai recommander
    """
)
_FR_TOUJOURS_NEXT = _words(
    """
    pas rien aucun aucune sans personne bloque bloquee coupe coupee pareil hs impossible
    injoignable inaccessible
    """
)
_FR_TOUJOURS_NEXT_PAIRS = (("en", "panne"), ("en", "attente"), ("en", "derangement"),
                           ("en", "retard"), ("le", "meme"), ("la", "meme"), ("les", "memes"),
                           ("hors", "service"))
_FR_WAIT = _words("attends attend attendons attendez attendais")
_FR_NOUVEAU_VETO_PREV = _words(
    """
    rien quoi du ce chose quelque marche marchent remarche fonctionne fonctionnent
    refonctionne va disponible accessible ouvert ouverte ok tout
    """
)
_FR_REQUEST = _words(
    """
    pouvez-vous pourriez-vous pouvez pourriez veuillez envoyer renvoyer reessayer essayer
    essayez merci voudrais
    """
)


def _fr_encore(ctx: _Context) -> bool:
    before = ctx.prev_words(2)
    after = ctx.next_words(2)
    if before and before[-1] in _FR_ENCORE_VETO_PREV:
        return False  # "pas encore" (not yet), "merci encore", "jamais encore"
    if after and after[0] in _FR_ENCORE_VETO_NEXT:
        return False  # "encore merci", "encore plus", "encore jamais"
    if _any_in(ctx.clause_before(), _FR_INTENT):
        return False  # "je voudrais commander encore une fois chez vous"
    if before and before[-1] == "fois":
        return True  # "prélevée deux fois encore"
    return bool(after) and after[0] in _FR_ENCORE_NEXT


def _fr_toujours(ctx: _Context) -> bool:
    before = ctx.prev_words(2)
    if before and before[-1] in ("pas", "comme"):
        return False  # "pas toujours" (not always), "comme toujours"
    if " " in ctx.matched:
        return True  # "toujours pas", "toujours rien", "toujours aucune"
    if ctx.next_char() == ",":
        return False
    if before and before[-1] in _FR_WAIT:
        return True  # "j'attends toujours"
    after = ctx.next_words(2)
    if not after:
        return False
    if after[0] in _FR_TOUJOURS_NEXT:
        return True
    return tuple(after[:2]) in _FR_TOUJOURS_NEXT_PAIRS


def _fr_nouveau(ctx: _Context) -> bool:
    before = ctx.clause_before()
    if before and before[-1] in _FR_NOUVEAU_VETO_PREV:
        return False  # "rien de nouveau", "ça marche à nouveau"
    if _any_in(before, _FR_REQUEST) or _any_in(ctx.next_words(1), _words("merci")):
        return False  # "pouvez-vous m'envoyer à nouveau la facture", "merci à nouveau"
    return True


def _fr_encore_une_fois(ctx: _Context) -> bool:
    return not _any_in(ctx.clause_before(), _FR_INTENT | _FR_REQUEST)


def _fr_recommence(ctx: _Context) -> bool:
    # "le problème recommence" is a cue; "je recommence la procédure" is the customer's own.
    before = ctx.prev_words(1)
    return not (before and before[-1] in ("je", "on", "nous", "dois", "faut"))


# --------------------------------------------------------------------------------------------
# The rules. Patterns are written against the folded text: lower case, no accents.

_FR_CONTACT_PARTICIPLES = (
    r"appele|ecrit|contacte|signale|envoye|reclame|relance|telephone|mentionne|previent|"
    r"prevenu|averti|explique|demande|dit|fait\s+(?:une|la|plusieurs)\s+\w+|fait\s+part"
)


def _without_leading_boundaries(pattern: str) -> str:
    r"""Drop the \b that opens the pattern or any of its top-level alternatives.

    A leading \b stops `re` from searching for the first word with its fast prefix scan (a
    five-fold slowdown here); find_again_cues checks the left word boundary itself instead.
    """
    alternatives: list[str] = []
    depth = 0
    current: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            current.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            alternatives.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    alternatives.append("".join(current))
    return "|".join(alt.removeprefix(r"\b") for alt in alternatives)


def _rule(
    kind: str,
    languages: str,
    pattern: str,
    triggers: str,
    check: _Check | None = None,
    before: str | None = None,
) -> _Rule:
    return _Rule(
        kind=kind,
        languages=tuple(languages.split()),
        pattern=re.compile(_without_leading_boundaries(pattern)),
        triggers=frozenset(triggers.split("|")),
        check=check,
        # starts at a word boundary, ends where the rule's own match begins
        before=re.compile(rf"(?<![^\W_])(?:{before})$") if before else None,
    )


_RULES: tuple[_Rule, ...] = (
    # ---- Dutch ----
    # "alweer", "al weer", "alwéér": always a cue.
    _rule("again", "nl", r"\bal\s?we{2,6}r\b", "al|alweer|alweeer|alweeeer|alweeeeer|alweeeeeer"),
    # "weer" is a cue only with trouble around it (see _nl_weer): the weather and "werkt weer"
    # (works again) are the most common innocent uses in complaint mail.
    _rule("again", "nl", r"\bwe{2,6}r\b", "weer|weeer|weeeer|weeeeer|weeeeeer", _nl_weer),
    # "nog steeds / nog altijd" (SMS "nog stds"): a cue only about trouble or waiting;
    # "ik ben nog steeds tevreden" and "nog altijd geldig" are not.
    _rule(
        "still",
        "nl",
        r"\bnog\s*(?:steeds|stds|altijd|altyd)\b",
        "nog|nogsteeds|nogstds|nogaltijd|nogaltyd",
        _nl_still,
    ),
    # "opnieuw": a cue unless it is the customer's own retry ("opnieuw opgestart") or a
    # quoted error ("probeer het later opnieuw").
    _rule("again", "nl", r"\bopnieuw\b", "opnieuw", _nl_opnieuw),
    # "nogmaals" / "wederom": once more, but "nogmaals bedankt" is thanks again.
    _rule("once_more", "nl", r"\b(?:nogmaals|nog\s+een\s+keer)\b", "nogmaals|nog", _nl_not_thanks),
    _rule("again", "nl", r"\bwederom\b", "wederom", _nl_not_thanks),
    # "voor de derde keer", "de 3e keer", "voor de zoveelste keer": ordinals of a repeat.
    _rule(
        "repeat_count",
        "nl",
        r"\b(?:keer|maal)\b",
        "keer|maal",
        before=r"(?:(?:voor\s+de|de)\s+)?(?:zoveelste|zo\s*veelste|tweede|derde|vierde|vijfde|"
        r"zesde|zevende|achtste|negende|tiende|twintigste|\d+\s*(?:e|de|ste))\s+",
    ),
    # "de zoveelste storing": "umpteenth" needs no "keer".
    _rule("repeat_count", "nl", r"\bzoveelste\b", "zoveelste"),
    # "niet de eerste keer": not the first time.
    _rule(
        "repeat_count",
        "nl",
        r"\bniet\s+(?:de|voor\s+het)\s+eerste\s+keer\b|\bniet\s+voor\s+het\s+eerst\b",
        "eerste|eerst",
    ),
    # "al drie keer gebeld", "al 3x", "al meerdere keren": counts of contacts.
    _rule(
        "repeat_count",
        "nl",
        rf"\bal\s+(?:(?:{_NL_COUNT_WORDS})\s*(?:keer|keren|x|maal)|vaker|zo\s*vaak|meermaals|"
        rf"herhaaldelijk)(?:\s+(?:{_NL_CONTACT_PARTICIPLES}))?\b",
        "al",
    ),
    # "drie keer gebeld", "5x uitgevallen": a count with a contact or a failure verb;
    # "drie keer opnieuw opgestart" is the customer's own attempts.
    _rule(
        "repeat_count",
        "nl",
        rf"\b(?:{_NL_COUNT_WORDS})\s*(?:keer|keren|x|maal)\s+"
        rf"(?:{_NL_CONTACT_PARTICIPLES}|{_NL_FAILURE_PARTICIPLES})\b",
        "keer|keren|maal|x|#x|#keer|#keren|#maal",
    ),
    # "al eerder": already before, whatever follows.
    _rule("already_contacted", "nl", r"\bal\s+eerder\b", "eerder"),
    # "al / eerder / reeds ... gebeld": up to four words between ("ik heb u eerder deze week
    # gemaild"); only contact verbs count, so "ik heb al betaald" is no cue.
    _rule(
        "already_contacted",
        "nl",
        rf"\b(?:al|eerder|reeds)(?:\s+[\w'-]+){{0,4}}?\s+(?:{_NL_CONTACT_PARTICIPLES})\b",
        "al|eerder|reeds",
    ),
    # "steeds weer", "telkens weer", "keer op keer": it keeps happening.
    _rule(
        "keeps_happening",
        "nl",
        r"\b(?:steeds|telkens|elke\s+keer|iedere\s+keer)\s+(?:weer|opnieuw)\b|"
        r"\bkeer\s+op\s+keer\b|\bherhaaldelijk\b|\bsteeds\s+maar\s+weer\b",
        "steeds|telkens|keer|herhaaldelijk",
    ),
    # "blijft crashen", "blijft maar herstarten" (not "blijft werken").
    _rule(
        "keeps_happening",
        "nl",
        r"\bblijf(?:t|ven)\s+(?:maar\s+)?\w+en\b",
        "blijft|blijven",
        _nl_blijft,
    ),
    # "nog geen antwoord": waiting for our answer means they wrote before.
    _rule(
        "follow_up",
        "nl",
        r"\bnog\s+geen\s+(?:antwoord|reactie|bericht|terugkoppeling|"
        r"respons|terugbelverzoek)\b|\bgeen\s+(?:antwoord|reactie)\s+(?:gekregen|ontvangen)\b",
        "geen",
    ),
    # "niet teruggebeld": a promised call-back that never came.
    _rule(
        "follow_up",
        "nl",
        r"\b(?:niet|nooit|nog\s+niet)\s+(?:terug\s*gebeld|terug\s*gemaild|teruggebeld)\b",
        "terug|teruggebeld|teruggemaild",
    ),
    # "n.a.v. mijn vorige mail", "mijn eerdere melding": a reference to an earlier contact.
    _rule(
        "follow_up",
        "nl",
        r"\b(?:naar\s+aanleiding\s+van|n\.?a\.?v\.?|zoals\s+in|in)\s+(?:mijn|ons)\s+"
        r"(?:eerdere|vorige|laatste)\s+(?:e-?mail|mail|bericht|melding|klacht|telefoontje|"
        r"gesprek|brief)\b|\bmijn\s+(?:eerdere|vorige)\s+(?:e-?mail|mail|bericht|melding|klacht|"
        r"telefoontje|gesprek|brief)\b",
        "eerdere|vorige|laatste",
    ),
    # "hoe vaak moet ik nog bellen?": exasperation at repeating oneself.
    _rule("again", "nl", r"\bhoe\s+vaak\s+(?:moet|nog)\b", "vaak"),
    # ---- English ----
    _rule("again", "en", r"\bagain\b", "again", _en_again),
    # "again and again", "over and over", "time after time", "repeatedly".
    _rule(
        "keeps_happening",
        "en",
        r"\bagain\s+and\s+again\b|\bover\s+and\s+over(?:\s+again)?\b|"
        r"\btime\s+and\s+(?:time\s+)?again\b|\btime\s+after\s+time\b|\brepeatedly\b",
        "repeatedly|over|again|time",
    ),
    # "once again", "yet again": emphatic and never innocent.
    _rule("once_more", "en", r"\b(?:once\s+again|yet\s+again)\b", "again"),
    # "once more", "one more time", except in a request ("could you explain once more").
    _rule(
        "once_more", "en", r"\b(?:once\s+more|one\s+more\s+time)\b", "once|time", _en_not_modal
    ),
    # "still": only when trouble follows ("still not", "still waiting", "still no");
    # not "still, I think", "stand still", "still water", "still available".
    _rule("still", "en", r"\bstill\b", "still", _en_still),
    # "keeps crashing", "keep getting logged out" (not "keep me updated", "I'll keep using").
    _rule(
        "keeps_happening",
        "en",
        r"\b(?:keeps?|kept)\s+(?:on\s+)?[a-z]+ing\b",
        "keep|keeps|kept",
        _en_not_modal,
    ),
    # "the 3rd time", "for the second time" (not "second time zone").
    _rule(
        "repeat_count",
        "en",
        r"\btime\b(?!\s*(?:zone|slot|frame|stamp|line|table|sheet|s\b))",
        "time",
        before=rf"(?:(?:for\s+the|the|my|a)\s+)?(?:{_EN_ORDINALS})\s+",
    ),
    # "not the first time".
    _rule(
        "repeat_count",
        "en",
        r"\b(?:not|isn't|isnt|wasn't|wasnt|ain't)\s+(?:the|my|our)\s+first\s+time\b",
        "first",
    ),
    # "second reminder", "final chaser".
    _rule(
        "repeat_count",
        "en",
        r"\b(?:reminder|chaser)\b",
        "reminder|chaser",
        before=rf"(?:{_EN_ORDINALS}|final|last)\s+",
    ),
    # "my 2nd complaint", "third email about".
    _rule(
        "repeat_count",
        "en",
        r"\b(?:complaint|request\s+about|email\s+about|message\s+about)\b",
        "complaint|request|email|message",
        before=rf"(?:{_EN_ORDINALS})\s+",
    ),
    # "called three times", "contacted your support multiple times": counted contacts.
    _rule(
        "repeat_count",
        "en",
        rf"\b(?:{_EN_CONTACT_VERBS})(?:\s+[\w'-]+){{0,3}}?\s+(?:{_EN_COUNT})\b",
        "times|twice|thrice|x|#x|#times",
    ),
    # Failures counted: "has crashed EIGHT TIMES", "dropped out 3 times today".
    _rule(
        "repeat_count",
        "en",
        r"\b(?:crashed|crashes|failed|fails|dropped|drops|froze|freezes|disconnected|"
        r"disconnects|broke|broken|went\s+down|gone\s+down|cut\s+out|cut\s+off|logged\s+me\s+out|"
        r"kicked\s+me\s+out|declined|bounced|cancell?ed)(?:\s+[\w'-]+){0,2}?\s+"
        rf"(?:{_EN_COUNT})\b",
        "times|twice|thrice|x|#x|#times",
    ),
    # "already called / emailed / reported", optionally with a count ("already called twice");
    # "already paid" is no contact.
    _rule(
        "already_contacted",
        "en",
        r"\balready\s+(?:been\s+)?(?:called|rang|rung|phoned|emailed|e-mailed|mailed|messaged|"
        r"contacted|tweeted|dm'?e?d|written|wrote|complained|reported|raised|logged|filed|"
        r"submitted|opened\s+a|chatted|spoke|spoken|talked|reached\s+out|told\s+you|"
        r"explained|asked|sent\s+(?:you|an?|the|my)|in\s+touch|through\s+this|did\s+that|"
        r"done\s+that|tried\s+that)\b"
        rf"(?:(?:\s+[\w'-]+){{0,3}}?\s+(?:{_EN_COUNT})\b)?",
        "already",
    ),
    # "spoke to one of your agents": an earlier conversation with us.
    _rule(
        "already_contacted",
        "en",
        r"\b(?:spoke|spoken|talked|chatted)\s+(?:to|with)\s+(?:one\s+of\s+)?(?:your|an?|the)\s+"
        r"(?:agents?|colleagues?|support|team|reps?|representatives?|advisors?|advisers?|staff|"
        r"customer\s+service|customer\s+care|helpdesk|call\s+centre|call\s+center)\b",
        "spoke|spoken|talked|chatted",
    ),
    # "submitted a ticket a month ago".
    _rule(
        "already_contacted",
        "en",
        r"\b(?:submitted|opened|raised|filed|logged|lodged|made|sent|reported)\s+(?:a|an|my|the)\s+"
        r"(?:support\s+)?(?:ticket|complaint|case|request|claim|report|query|enquiry|inquiry|"
        r"email|message)\b(?:\s+[\w'-]+){0,3}?\s+(?:ago|yesterday|last\s+(?:week|month|night|"
        r"time)|earlier|before|previously)\b",
        "ago|yesterday|last|earlier|before|previously",
    ),
    # "called you yesterday", "emailed support on Monday".
    _rule(
        "already_contacted",
        "en",
        r"\b(?:called|phoned|rang|emailed|e-mailed|contacted|messaged|tweeted|wrote\s+to)\s+"
        r"(?:you|your\s+\w+|you\s+guys|support)\s+(?:yesterday|last\s+(?:week|month|night)|"
        r"earlier|before|previously|already|on\s+(?:monday|tuesday|wednesday|thursday|friday|"
        r"saturday|sunday))\b",
        "called|phoned|rang|emailed|mailed|contacted|messaged|tweeted|wrote",
    ),
    # "following up", "follow up on my ...", "just a follow-up".
    _rule(
        "follow_up",
        "en",
        r"\bfollowing[\s-]*up\b|\bfollow(?:ed)?[\s-]*up\s+(?:on|to|regarding|about)\s+"
        r"(?:my|our|the|this)\b|\b(?:a|my|this|just\s+a)\s+follow[\s-]*up\b",
        "following|follow|followed|followup",
    ),
    # "my previous email", "our last complaint".
    _rule(
        "follow_up",
        "en",
        r"\b(?:my|our)\s+(?:previous|last|earlier|prior|original|first)\s+(?:e-?mail|message|"
        r"complaint|ticket|case|request|call|tweet|dm|post|letter|report|contact|conversation|"
        r"chat|query|enquiry|inquiry)\b",
        "previous|last|earlier|prior|original|first",
    ),
    # "as I said", "as we already explained".
    _rule(
        "follow_up",
        "en",
        r"\bas\s+(?:i|we)(?:\s+have)?\s+(?:already\s+)?(?:said|mentioned|explained|wrote|stated|"
        r"told\s+you)\b",
        "said|mentioned|explained|wrote|stated|told",
    ),
    # "any update on ...", "no reply to my ...": waiting for an answer to an earlier contact;
    # "gives no response when I tap it" is a device, not us.
    _rule(
        "follow_up",
        "en",
        r"\bany\s+(?:update|news|progress|word)s?\s+(?:on|about|regarding)\b|"
        r"\bno\s+(?:reply|response|answer|word|call\s*back)\s+(?:to|on|from|yet|regarding)\b",
        (
        "update|updates|news|progress|word|words|reply|response|answer|call|"
        "callback"
    ),
    ),
    # "never got a response", "haven't heard back".
    _rule(
        "follow_up",
        "en",
        r"\b(?:never|haven'?t|have\s+not|hasn'?t|has\s+not|didn'?t|did\s+not|not|still\s+no)\s+"
        r"(?:got|gotten|get|received|receive|had|heard)\s+(?:a\s+|any\s+)?(?:response|reply|"
        r"answer|call\s*-?back|word|anything\s+back|back)\b|"
        r"\b(?:haven'?t|have\s+not|hasn'?t|never|not)\s+heard\s+(?:back|anything|from\s+"
        r"(?:you|anyone|anybody))\b",
        "response|reply|answer|callback|call|word|back|heard",
    ),
    # "a callback that never came", "never called me back".
    _rule(
        "follow_up",
        "en",
        r"\b(?:call\s*-?back|reply|response|engineer|technician|refund)\s+(?:that\s+)?never\s+"
        r"(?:came|happened|arrived|showed)\b|\bnever\s+(?:called|rang|phoned|got)\s+(?:me\s+)?back\b",
        "never",
    ),
    # "the same problem as last month".
    _rule(
        "again",
        "en",
        r"\bsame\s+(?:problem|issue|fault|error|thing)\s+(?:as\s+(?:last|before|yesterday|"
        r"previously|earlier|the\s+last\s+time)|again)\b",
        "same",
    ),
    # ---- German ----
    _rule("again", "de", r"\bschon\s*wieder\b", "wieder|schonwieder", _de_schon_wieder),
    # "wieder einmal", "mal wieder", "einmal mehr".
    _rule(
        "once_more",
        "de",
        r"\b(?:wieder\s+(?:ein)?mal|mal\s+wieder|einmal\s+mehr)\b",
        "wieder|einmal",
    ),
    # "immer wieder" (not "immer wieder gerne", a compliment).
    _rule("keeps_happening", "de", r"\bimmer\s+wieder\b", "wieder", _de_immer_wieder),
    # "wieder" with trouble ("wieder nicht", "wieder kein"); not "funktioniert wieder",
    # "hin und wieder", "nie wieder"; "Wiedersehen" and "wiederherstellen" are other words.
    _rule("again", "de", r"\bwieder\b", "wieder", _de_wieder),
    # "immer noch", "noch immer", "nach wie vor", "weiterhin": only about trouble or waiting.
    _rule(
        "still",
        "de",
        r"\b(?:immer\s+noch|noch\s+immer|nach\s+wie\s+vor|weiterhin)\b",
        "immer|vor|weiterhin",
        _de_still,
    ),
    # "erneut", except in a quoted "versuchen Sie es später erneut".
    _rule("again", "de", r"\berneut\b", "erneut", _de_erneut),
    # "nochmals", "noch einmal", except thanks ("vielen Dank nochmal") and requests.
    _rule(
        "once_more",
        "de",
        r"\b(?:nochmals|nochmal|noch\s+mal|noch\s+einmal)\b",
        "nochmals|nochmal|noch",
        _de_nochmal,
    ),
    # "zum dritten Mal", "das vierte Mal", "mein dritter Anruf", "zum wiederholten Mal".
    _rule(
        "repeat_count",
        "de",
        r"\b(?:mal|male|anruf|e-mail|email|mail|nachricht|beschwerde|reklamation|anfrage|"
        r"mahnung)\b",
        "mal|male|anruf|mail|email|nachricht|beschwerde|reklamation|anfrage|mahnung",
        before=r"(?:(?:zum|das|ein|mein|meine|meinen|der|die)\s+)?(?:zweit|dritt|viert|funft|"
        r"fuenft|sechst|siebt|acht(?=e)|neunt|zehnt|x-t|zigst|n-t|wiederholt)(?:e|en|er|es|em)?"
        r"\s+|zum\s+\d+\.\s*",
    ),
    # "nicht das erste Mal".
    _rule(
        "repeat_count",
        "de",
        r"\bnicht\s+(?:das|zum)\s+erste(?:n)?\s+mal\b",
        "erste|ersten",
    ),
    # "schon mehrmals", "bereits zweimal angerufen": counted contacts.
    _rule(
        "repeat_count",
        "de",
        r"\b(?:schon|bereits)\s+(?:zweimal|dreimal|viermal|funfmal|mehrmals|mehrfach|x-?mal|"
        r"zigmal|oft|ofter|so\s+oft|\d+\s*(?:mal|x))\b"
        rf"(?:\s+(?:{_DE_CONTACT_PARTICIPLES}))?|"
        r"\b(?:zweimal|dreimal|viermal|mehrmals|mehrfach|x-?mal|zigmal)\s+"
        rf"(?:{_DE_CONTACT_PARTICIPLES})\b",
        "schon|bereits|zweimal|dreimal|viermal|mehrmals|mehrfach|x|xmal|zigmal",
    ),
    # "schon ... angerufen", "wie bereits gemeldet" (not "schon bezahlt").
    _rule(
        "already_contacted",
        "de",
        rf"\b(?:schon|bereits)(?:\s+[\w-]+){{0,4}}?\s+(?:{_DE_CONTACT_PARTICIPLES})\b",
        "schon|bereits",
    ),
    # "Bezug nehmend auf meine E-Mail", "meine letzte Nachricht", "wie bereits erwähnt".
    _rule(
        "follow_up",
        "de",
        r"\bbezug\s*nehmend\s+auf\b|\bbezuglich\s+(?:meiner|meines)\s+(?:letzten|vorherigen|"
        r"fruheren)\b|\bmeine[rnms]?\s+(?:letzten?|vorherigen?|fruheren?)\s+(?:e-?mail|mail|"
        r"nachricht|anfrage|beschwerde|reklamation|anrufs?)\b|\bwie\s+(?:bereits|schon)\s+"
        r"(?:gesagt|erwahnt|geschrieben|mitgeteilt|gemeldet|beschrieben)\b",
        "bezug|bezugnehmend|bezuglich|meine|meiner|meinen|meines|meinem|wie",
    ),
    # "keine Rückmeldung bekommen", "bis heute keine Antwort".
    _rule(
        "follow_up",
        "de",
        r"\bkeine\s+(?:ruckmeldung|antwort|reaktion)\s+(?:bekommen|erhalten)\b|"
        r"\bbis\s+heute\s+(?:keine|nichts|kein)\b|\bnoch\s+keine\s+(?:ruckmeldung|antwort)\b",
        "keine|heute",
    ),
    # ---- French ----
    _rule("again", "fr", r"\bencore\b", "encore", _fr_encore),
    # "encore une fois", except purchase intent ("je voudrais commander encore une fois").
    _rule("once_more", "fr", r"\bencore\s+une\s+fois\b", "encore", _fr_encore_une_fois),
    # "une fois de plus", "une nouvelle fois".
    _rule("once_more", "fr", r"\bune\s+(?:fois\s+de\s+plus|nouvelle\s+fois)\b", "fois"),
    # "toujours pas", "toujours rien", "toujours en panne", "j'attends toujours"; not "comme
    # toujours", "pas toujours" or "toujours satisfait".
    _rule("still", "fr", r"\btoujours(?:\s+(?:pas|rien|aucune?))?\b", "toujours", _fr_toujours),
    # "de nouveau", "à nouveau" (also "a nouveau"); not "rien de nouveau", "ça marche à
    # nouveau" or "pouvez-vous m'envoyer à nouveau".
    _rule("again", "fr", r"\b(?:de|a)\s+nouveau\b", "nouveau", _fr_nouveau),
    # "le problème recommence" (not "je recommence").
    _rule("again", "fr", r"\brecommencen?t?\b", "recommence|recommencent", _fr_recommence),
    _rule(
        "repeat_count",
        "fr",
        r"\bfois\b",
        "fois",
        before=r"(?:(?:pour\s+la|la|une)\s+)?(?:enieme|n-?ieme|x-?ieme|ixieme|deuxieme|2e|2eme|"
        r"seconde|troisieme|3e|3eme|quatrieme|4e|4eme|cinquieme|5e|5eme|\d+e|\d+eme)\s+",
    ),
    # "pas la première fois", "à plusieurs reprises", "maintes fois".
    _rule(
        "repeat_count",
        "fr",
        r"\b(?:pas|plus)\s+la\s+premiere\s+fois\b|\ba\s+(?:plusieurs|maintes|de\s+nombreuses)"
        r"\s+reprises\b|\bmaintes\s+fois\b",
        "premiere|reprises|maintes",
    ),
    # "appelé trois fois": counted contacts.
    _rule(
        "repeat_count",
        "fr",
        r"\b(?:appele|ecrit|contacte|relance|telephone|signale|reclame)(?:\s+[\w'-]+){0,3}?\s+"
        r"(?:deux|trois|quatre|cinq|plusieurs|\d+)\s+fois\b",
        "fois",
    ),
    # "déjà appelé / écrit / signalé" (also without accents), "déjà eu le même problème".
    _rule(
        "already_contacted",
        "fr",
        rf"\bdeja\s+(?:{_FR_CONTACT_PARTICIPLES})\w*"
        r"(?:\s+(?:deux|trois|quatre|cinq|plusieurs|\d+)\s+fois\b)?|"
        r"\bdeja\s+eu\s+(?:le|ce|la|un|une)\s+(?:meme\s+)?(?:probleme|souci|panne)\b",
        "deja",
    ),
    # "je vous relance", "ma deuxième relance", "je reviens vers vous".
    _rule(
        "follow_up",
        "fr",
        r"\bje\s+vous\s+relance\b|\b(?:ma|une|deuxieme|seconde|troisieme|nouvelle|derniere)\s+"
        r"relance\b|\brelance\s+(?:au\s+sujet|concernant|pour|a\s+propos)\b|"
        r"\bje\s+reviens\s+vers\s+vous\b",
        "relance|reviens",
    ),
    # "suite à mon appel", "mon dernier mail".
    _rule(
        "follow_up",
        "fr",
        r"\bsuite\s+a\s+(?:mon|ma|mes|notre)\s+(?:precedent\w*\s+|dernier\w*\s+)?(?:appel|mail|"
        r"e-mail|email|message|courrier|courriel|reclamation|demande|echange|conversation|"
        r"entretien|lettre|plainte|signalement)\b|\b(?:mon|ma)\s+(?:precedent|precedente|"
        r"dernier|derniere)\s+(?:mail|e-mail|message|appel|courrier|courriel|demande|"
        r"reclamation|lettre)\b",
        "suite|precedent|precedente|dernier|derniere",
    ),
    # "aucune réponse de votre part", "sans réponse depuis".
    _rule(
        "follow_up",
        "fr",
        r"\b(?:aucune|pas\s+de|sans)\s+reponse\s+(?:de\s+votre\s+part|a\s+mon|a\s+ma|a\s+mes|"
        r"depuis)\b",
        "reponse",
    ),
    # ---- any language: a ticket or case number quoted back to us is an earlier contact ----
    _rule(
        "follow_up",
        "nl en de fr",
        r"\b(?:ticket\s*(?:nummer|number|nr|no|id)?|klachtnummer|dossiernummer|zaaknummer|"
        r"meldingsnummer|referentienummer|case\s*(?:number|no|id)?|complaint\s*(?:number|no)|"
        r"reference\s*(?:number|no)?|vorgangsnummer|vorgang|fallnummer|reclamation|dossier)"
        r"\.?\s*(?:is\s+|n\s*[°o]\.?\s*|#\s*|:\s*)*#?\d{3,}\b",
        (
        "ticket|ticketnummer|ticketnr|ticketnumber|ticketno|ticketid|"
        "klachtnummer|dossiernummer|zaaknummer|meldingsnummer|referentienummer|"
        "case|casenumber|caseno|caseid|complaint|complaintnumber|complaintno|"
        "reference|referencenumber|referenceno|vorgangsnummer|vorgang|"
        "fallnummer|reclamation|dossier"
    ),
    ),
)

_RULES_BY_LANGUAGE: dict[str, tuple[_Rule, ...]] = {
    # A message in one language often borrows English ("weer geen wifi, again!"), so English
    # rules always run; the other languages' rules only run when the language is unknown.
    language: tuple(r for r in _RULES if language in r.languages or "en" in r.languages)
    for language in LANGUAGES
}


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


_TRIGGER_TOKEN = re.compile(r"[^\W_]+")


def _trigger_words(folded: str) -> set[str]:
    words = set(_TRIGGER_TOKEN.findall(folded))
    # "3x", "4th", "3e", "2nd" also stand as "#x", "#th", "#e", "#nd" for the triggers.
    words.update(["#" + word.lstrip("0123456789") for word in words if word[0].isdigit()])
    return words


def _rules_for(lang: str | None) -> tuple[_Rule, ...]:
    if lang:
        primary = lang.replace("_", "-").split("-", 1)[0].strip().lower()
        if primary in _RULES_BY_LANGUAGE:
            return _RULES_BY_LANGUAGE[primary]
    return _RULES


def find_again_cues(text: str, lang: str | None = None) -> list[AgainCue]:
    """Return the again-cues in text, sorted by start and never overlapping.

    Args:
        text: the customer's own new words (quoted history and signatures already removed).
        lang: "nl", "en", "de" or "fr" (a tag such as "nl-BE" works too); None or another
            language runs every language's rules.
    """
    if not text:
        return []
    folded, offsets = _fold(text)
    words = _trigger_words(folded)
    found: list[tuple[int, int, str]] = []
    for rule in _rules_for(lang):
        if rule.triggers.isdisjoint(words):
            continue
        search = rule.pattern.search
        match = search(folded)
        while match is not None:
            start, end = match.span()
            if start and _is_word_char(folded[start - 1]):
                # Inside a word ("tweer", "wiederherstellen" is fine, "zwieder" is not):
                # look again one character on, so no match that starts later is hidden.
                match = search(folded, start + 1)
                continue
            next_from = max(end, start + 1)
            if rule.before is not None:
                lead = rule.before.search(folded, max(0, start - _BEFORE_CHARS), start)
                start = lead.start() if lead is not None else end
            if end > start and (
                rule.check is None or rule.check(_Context(text, folded, offsets, start, end))
            ):
                found.append((start, end, rule.kind))
            match = search(folded, next_from)
    if not found:
        return []
    # Overlaps: the longest phrase wins ("voor de derde keer" over "derde keer", "schon wieder"
    # over "wieder"), then the earliest.
    found.sort(key=lambda item: (item[0] - item[1], item[0]))
    taken: list[tuple[int, int, str]] = []
    occupied = bytearray(len(folded))  # one byte per character: linear, however many cues
    for start, end, kind in found:
        if 1 not in occupied[start:end]:
            taken.append((start, end, kind))
            occupied[start:end] = b"\x01" * (end - start)
    cues = []
    for start, end, kind in sorted(taken):
        original_start, original_end = _original_span(text, offsets, start, end)
        cues.append(
            AgainCue(original_start, original_end, text[original_start:original_end], kind)
        )
    return cues


def is_again(text: str, lang: str | None = None) -> bool:
    """Say whether the customer's text contains at least one again-cue."""
    return bool(find_again_cues(text, lang))
