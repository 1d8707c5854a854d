"""Decide whether a customer's new contact repeats an earlier ticket: append, reopen or link."""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from ticketing.domain.again import AgainCue, find_again_cues

# --------------------------------------------------------------------------------------------
# Topic terms and similarity

# Function words of the four languages, words every complaint shares ("problem", "help",
# "klacht", "bitte") and the again-cues themselves: none of them says what a message is about,
# and counting them would make any two complaints look alike.
_STOP_WORDS = frozenset(
    """
    the and for are was were been being have has had not but with this that these those from
    you your yours our ours they them their his her its what when where which who why how
    will would could should can cannot can't don't doesn't didn't isn't aren't wasn't won't
    i'm i've i'd you're it's there here just about into over after before because very any
    some all also only then than too more most much many such now yet again still already
    once same other another each every even ever never always please thanks thank hello dear
    regards kind best sir madam team customer service support help issue issues problem
    problems question questions complaint complaints ticket hi hey yes okay sorry get got
    getting make made did does doing done one two three time times today yesterday tomorrow
    week weeks month months day days year years hour hours minute minutes ago since last
    next first second third back keep keeps kept tried try trying want need like know think
    said say says told tell still sent send
    een het van dat die deze dit niet geen wel maar met voor naar bij uit ook nog als dan
    heb hebt heeft hebben had kan kunt kunnen moet moeten wil wilt zou zal worden wordt werd
    wat waar hoe wie waarom graag alstublieft bedankt dank hallo beste geachte groet groeten
    weer alweer steeds opnieuw nogmaals wederom toch even helaas tot door over zonder omdat
    want jullie hun hem haar zij mee hier daar mijn mij onze ons uw zijn was waren er om op
    aan te en ik je jij we wij ze keer klacht probleem vraag vragen klantenservice vriendelijke
    groet dag week weken maand maanden jaar gisteren vandaag morgen sinds al eerder altijd
    der die das ein eine einen einem einer und ist sind war waren nicht kein keine ich du
    sie wir ihr mein meine mir mich dein sein ihre unser mit für auf zu von bei aus nach wie
    was wann warum wer bitte danke hallo sehr geehrte geehrter grüße noch schon wieder
    immer auch aber oder wenn dann habe hast hat haben hatte kann können muss müssen will
    würde wurde werden wird den dem des im ins zum zur über erneut nochmals mal problem
    les des une est sont était ne pas je tu il elle nous vous ils elles mon ma mes ton ta
    votre vos notre nos leur avec pour sur dans par au aux que qui quoi où quand pourquoi
    comment merci bonjour madame monsieur cordialement encore toujours déjà aussi mais si
    alors ai avons avez ont avait peut pouvez dois doit faut fait être avoir cette ces
    cela ça très nouveau fois problème
    """.split()
)
_TERM = re.compile(r"[^\W\d_]{3,}(?:'[^\W\d_]+)?|\d{3,}")
# Light suffix stripping, longest first, so that "delivered", "delivery" and "deliveries"
# (or "bezorgd" and "bezorging", "Lieferung" and "Lieferungen") share a term.
_SUFFIXES = (
    "ungen", "ingen", "ement", "ments", "ings", "ing", "ung", "ies", "ied", "ers", "ern",
    "eren", "ed", "es", "en", "er", "em", "ly", "e", "s", "d", "y", "n",
)
_MIN_STEM = 4


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_FOLDED_STOP_WORDS = frozenset(_fold(word).replace("'", "") for word in _STOP_WORDS)


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=4096)
def topic_terms(text: str) -> frozenset[str]:
    """Return the content words of text, folded and lightly stemmed, for topic_similarity.

    Cached: a customer's earlier tickets are compared with each new contact of theirs, and
    their opening words are the same every time.

    Numbers of three or more digits are kept as they are: an order or invoice number shared by
    two messages is as good a sign of one topic as any word.
    """
    terms = set()
    for word in _TERM.findall(_fold(text or "")):
        word = word.replace("'", "")
        if word in _FOLDED_STOP_WORDS:
            continue
        terms.add(word if word.isdigit() else _stem(word))
    return frozenset(terms)


def topic_similarity(a: str, b: str) -> float:
    """Return how much two texts share their topic, from 0.0 (nothing) to 1.0 (the same terms).

    The measure is the cosine of the two sets of topic_terms (the Ochiai coefficient):
    shared terms / sqrt(terms of a * terms of b). Unlike Jaccard it does not punish a short
    SMS ("alweer geen bereik") for being compared with a long first e-mail about the same fault,
    and unlike the overlap coefficient one shared word does not make a two-word text identical
    to everything that contains it.
    """
    return _cosine(topic_terms(a), topic_terms(b))


def _cosine(terms_a: frozenset[str], terms_b: frozenset[str]) -> float:
    if not terms_a or not terms_b:
        return 0.0
    shared = len(terms_a & terms_b)
    return shared / math.sqrt(len(terms_a) * len(terms_b))


# --------------------------------------------------------------------------------------------
# The decision

#: statuses in which a ticket still needs work (mirrors the model's OPEN_STATUSES)
OPEN_STATUSES = frozenset({"new", "open", "pending", "on_hold"})
SOLVED_STATUSES = frozenset({"solved", "closed"})


@dataclass(frozen=True)
class PriorTicket:
    """What the rule needs to know about one of the customer's earlier tickets."""

    ticket_id: int
    reference: str
    #: a TicketStatus value: new, open, pending, on_hold, solved, closed
    status: str
    opened_at: datetime
    solved_at: datetime | None
    last_activity_at: datetime
    subject: str | None
    #: the customer's first message on it: what the ticket is about
    text: str


@dataclass(frozen=True)
class RepeatWindows:
    """How far back a contact is compared, and how long a solved ticket may be reopened."""

    #: open tickets always count; solved or closed ones only if solved within this window
    look_back: timedelta = timedelta(days=30)
    #: a ticket solved within this window is reopened, an older one gets a linked follow-up;
    #: a solved ticket must first be within look_back, so a shorter look_back caps this too
    #: (a look_back near zero turns "same customer" linking off for solved tickets)
    reopen: timedelta = timedelta(days=7)
    #: topic similarity that counts as evidence on its own (no again-cue needed). Two messages
    #: about one fault typically score 0.3-0.6, unrelated complaints of one customer below 0.1.
    min_similarity: float = 0.3
    #: shared topic terms that similarity needs to count as evidence: one shared word (both
    #: mails have the subject "Bestelling") is coincidence, however short the texts are
    min_shared_terms: int = 2

    def __post_init__(self) -> None:
        if self.look_back < timedelta(0) or self.reopen < timedelta(0):
            raise ValueError("repeat windows must not be negative")
        if not 0.0 <= self.min_similarity <= 1.0:
            raise ValueError("min_similarity must lie between 0 and 1")
        if self.min_shared_terms < 1:
            raise ValueError("min_shared_terms must be at least 1")


class RepeatAction(str, enum.Enum):
    """Where a contact from a known customer goes when no thread header says so."""

    new_ticket = "new_ticket"
    append = "append"
    reopen = "reopen"
    new_linked = "new_linked"


@dataclass(frozen=True)
class RepeatDecision:
    """The outcome with its evidence and a sentence an agent can read."""

    action: RepeatAction
    #: the earlier ticket to append to, reopen or link to (None for a plain new ticket)
    ticket_id: int | None
    reason: str
    #: topic similarity with the chosen (or, for a new ticket, the nearest) earlier ticket
    similarity: float
    #: again-cues in the new text (spans index new_text)
    cues: tuple[AgainCue, ...]


@dataclass(frozen=True)
class _Candidate:
    prior: PriorTicket
    similarity: float
    shared_terms: int
    mentions_reference: bool
    is_open: bool

    def is_similar(self, windows: RepeatWindows) -> bool:
        return (
            self.similarity >= windows.min_similarity
            and self.shared_terms >= windows.min_shared_terms
        )


def decide_repeat(
    new_text: str,
    subject: str | None,
    received_at: datetime,
    priors: Sequence[PriorTicket],
    windows: RepeatWindows,
) -> RepeatDecision:
    """Decide where a new contact from a known customer goes (the "same customer" rule).

    Candidates are the customer's open tickets and those solved within the look-back window
    (never a ticket opened after received_at). Evidence for one of them is a topic similarity
    of at least windows.min_similarity from at least windows.min_shared_terms shared words, an
    again-cue in the new text or subject ("alweer", "still not working"), or the ticket's
    reference quoted in the contact. The best-supported candidate wins (quoted reference, then
    highest similarity, then open before solved, then the most recent activity), and:

    - open ticket with activity within the look-back window -> append (an open ticket idle for
      longer -> new ticket linked to it);
    - solved within the reopen window -> reopen;
    - solved (or closed) longer ago, within the look-back window -> new ticket linked to it;
    - no evidence -> new ticket (the reason names the nearest earlier ticket, if any).
    """
    cues = tuple(find_again_cues(new_text or ""))
    subject_cues = tuple(find_again_cues(subject or ""))
    contact_terms = topic_terms(f"{subject or ''}\n{new_text or ''}")
    contact_text = f"{subject or ''}\n{new_text or ''}"
    candidates = [
        _candidate(prior, contact_text, contact_terms)
        for prior in priors
        if _is_candidate(prior, received_at, windows)
    ]
    if not candidates:
        return RepeatDecision(
            RepeatAction.new_ticket, None, _no_candidate_reason(cues, windows), 0.0, cues
        )

    has_cue = bool(cues or subject_cues)
    # Similarity first: when a customer has two tickets, the cue says "again" but the words
    # say which one. Then open before solved, then recency.
    candidates.sort(
        key=lambda c: (
            c.mentions_reference,
            c.similarity,
            c.is_open,
            c.prior.last_activity_at,
        ),
        reverse=True,
    )
    best = candidates[0]
    evidence = _evidence(best, cues, subject_cues)
    if not (has_cue or best.mentions_reference or best.is_similar(windows)):
        if best.similarity < windows.min_similarity:
            weak = f"similarity {best.similarity:.2f} below {windows.min_similarity:.2f}"
        else:
            weak = (
                f"similarity {best.similarity:.2f} from {best.shared_terms} shared "
                f"word{'s' if best.shared_terms != 1 else ''} only"
            )
        reason = (
            f"no earlier ticket of this customer matches (nearest: {best.prior.reference}, "
            f"{_state(best.prior, received_at)}, {weak}; no again-cue); new ticket"
        )
        return RepeatDecision(RepeatAction.new_ticket, None, reason, best.similarity, cues)

    prior = best.prior
    idle = max(received_at - prior.last_activity_at, timedelta(0))
    if best.is_open and idle <= windows.look_back:
        action = RepeatAction.append
        where = f"{prior.reference} ({_state(prior, received_at)})"
        outcome = "added to it"
    elif best.is_open:
        # Open but untouched for longer than the look-back: a fresh ticket (with its own
        # clocks) linked to the stale one serves the customer better than a message buried
        # in a thread nobody has looked at for weeks.
        action = RepeatAction.new_linked
        where = (
            f"{prior.reference} ({prior.status.replace('_', ' ')}, but untouched for "
            f"{_age(idle)}, longer than the "
            f"{_window(windows.look_back)} look-back)"
        )
        outcome = "new ticket linked to it"
    else:
        solved_at = _solved_at(prior)
        age = max(received_at - solved_at, timedelta(0))
        verb = "solved" if prior.status == "solved" else "closed"
        if age <= windows.reopen and prior.solved_at is not None:
            action = RepeatAction.reopen
            where = (
                f"{prior.reference} ({verb} {_ago(age)}, within the "
                f"{_window(windows.reopen)} reopen window)"
            )
            outcome = "reopened"
        else:
            action = RepeatAction.new_linked
            why = (
                f"past the {_window(windows.reopen)} reopen window"
                if prior.solved_at is not None
                else "closed without being solved"
            )
            where = (
                f"{prior.reference} ({verb} {_ago(age)}, {why}, within the "
                f"{_window(windows.look_back)} look-back)"
            )
            outcome = "new ticket linked to it"
    reason = f"same customer wrote about {where}; {'; '.join(evidence)}; {outcome}"
    return RepeatDecision(action, prior.ticket_id, reason, best.similarity, cues)


def _is_candidate(prior: PriorTicket, received_at: datetime, windows: RepeatWindows) -> bool:
    if prior.opened_at > received_at:
        return False  # a replay or backfill: that ticket did not exist when this was written
    if prior.status in OPEN_STATUSES:
        return True
    if prior.status not in SOLVED_STATUSES:
        return False
    return received_at - _solved_at(prior) <= windows.look_back


def _solved_at(prior: PriorTicket) -> datetime:
    # A ticket closed without being solved (spam, a merge) counts from its last activity.
    return prior.solved_at or prior.last_activity_at


def _candidate(
    prior: PriorTicket, contact_text: str, contact_terms: frozenset[str]
) -> _Candidate:
    prior_terms = topic_terms(f"{prior.subject or ''}\n{prior.text or ''}")
    reference = re.compile(rf"(?<![\w-]){re.escape(prior.reference)}(?!\w)", re.IGNORECASE)
    return _Candidate(
        prior=prior,
        similarity=round(_cosine(contact_terms, prior_terms), 4),
        shared_terms=len(contact_terms & prior_terms),
        mentions_reference=bool(prior.reference) and bool(reference.search(contact_text)),
        is_open=prior.status in OPEN_STATUSES,
    )


def _evidence(
    best: _Candidate,
    cues: tuple[AgainCue, ...],
    subject_cues: tuple[AgainCue, ...],
) -> list[str]:
    evidence = []
    if best.mentions_reference:
        evidence.append(f"the contact quotes {best.prior.reference}")
    evidence.append(f"similarity {best.similarity:.2f}")
    quoted = _quote_cues(cues) or _quote_cues(subject_cues)
    if quoted:
        where = "" if cues else " in the subject"
        evidence.append(f"cue{'s' if len(cues or subject_cues) > 1 else ''} {quoted}{where}")
    return evidence


def _quote_cues(cues: tuple[AgainCue, ...]) -> str:
    shown = ", ".join(f"'{cue.match}'" for cue in cues[:3])
    return f"{shown} and {len(cues) - 3} more" if len(cues) > 3 else shown


def _no_candidate_reason(cues: tuple[AgainCue, ...], windows: RepeatWindows) -> str:
    lead = (
        f"the customer writes {_quote_cues(cues)}, but has"
        if cues
        else "this customer has"
    )
    return (
        f"{lead} no open ticket and none solved in the last {_duration(windows.look_back)}; "
        "new ticket"
    )


def _state(prior: PriorTicket, now: datetime) -> str:
    if prior.status in OPEN_STATUSES:
        age = max(now - prior.last_activity_at, timedelta(0))
        status = prior.status.replace("_", " ")
        return f"{status}, last activity {_ago(age)}"
    age = max(now - _solved_at(prior), timedelta(0))
    return f"{prior.status} {_ago(age)}"


def _age(age: timedelta) -> str:
    """Say "3 days", "1 hour" or "40 seconds", in the largest whole unit."""
    seconds = int(age.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "0 seconds"


def _ago(age: timedelta) -> str:
    return "just now" if age < timedelta(minutes=1) else f"{_age(age)} ago"


def _window_parts(window: timedelta) -> tuple[int, str]:
    if window % timedelta(days=1) == timedelta(0):
        return window.days, "day"
    if window % timedelta(hours=1) == timedelta(0):
        return int(window.total_seconds() // 3600), "hour"
    return int(window.total_seconds() // 60), "minute"


def _window(window: timedelta) -> str:
    """Say "7-day" (as in "the 7-day reopen window")."""
    count, unit = _window_parts(window)
    return f"{count}-{unit}"


def _duration(window: timedelta) -> str:
    """Say "30 days" (as in "in the last 30 days")."""
    count, unit = _window_parts(window)
    return f"{count} {unit}{'s' if count != 1 else ''}"


# --------------------------------------------------------------------------------------------
# "3rd contact about this"

_LABELS = {
    "en": "{n} contact about this",
    "nl": "{n} contact hierover",
    "de": "{n} Kontakt hierzu",
    "fr": "{n} contact à ce sujet",
}


def _english_ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ordinal(n: int, language: str) -> str:
    if language == "nl":
        return f"{n}e"  # Dutch writes every ordinal number with "e": 1e, 2e, 3e, 21e
    if language == "de":
        return f"{n}."
    if language == "fr":
        return "1er" if n == 1 else f"{n}e"
    return _english_ordinal(n)


def ordinal_contact_label(n: int, lang: str) -> str:
    """Return "3rd contact about this" (en), "3e contact hierover" (nl), and de/fr forms.

    Any other language gets English. Raises ValueError for n < 1.
    """
    if n < 1:
        raise ValueError("a contact count starts at 1")
    language = (lang or "en").replace("_", "-").split("-", 1)[0].lower()
    if language not in _LABELS:
        language = "en"
    return _LABELS[language].format(n=_ordinal(n, language))
