"""Canned responses in Dutch and English, with {customer_name}, {ticket_ref} and {agent_name}."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ticketing.extensions import db
from ticketing.models import CannedResponse, Ticket, User
from ticketing.services.texts import CUSTOMER_FALLBACK_NAME, pick_language

#: the placeholders a canned text may use; anything else in braces is left as written
PLACEHOLDERS = ("customer_name", "ticket_ref", "agent_name")
LANGUAGES = ("nl", "en")
_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_UNKNOWN_RE = re.compile(r"\{([a-z_]+)\}")


class CannedError(ValueError):
    """A canned response that cannot be saved; the message is safe to show.

    `problem` names what is wrong (no_title, bad_language, no_text, unknown_placeholder,
    duplicate_title) and `details` its particulars, so a page can say it in the user's language.
    """

    def __init__(self, message: str, problem: str, **details: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.details = details


@dataclass(frozen=True)
class FilledCanned:
    """A canned response ready to drop into a reply box."""

    id: int
    title: str
    language: str
    text: str


def fill_placeholders(body: str, values: dict[str, str]) -> str:
    """Replace the known placeholders; other braces stay, so the text never breaks on "{"."""
    return _PLACEHOLDER_RE.sub(lambda match: values.get(match.group(1), match.group(0)), body)


def placeholder_values(ticket: Ticket, agent: User, language: str) -> dict[str, str]:
    """The values for one ticket and agent; a customer without a name is "klant"/"customer"."""
    return {
        "customer_name": ticket.customer.name or CUSTOMER_FALLBACK_NAME[pick_language(language)],
        "ticket_ref": ticket.reference,
        "agent_name": agent.name,
    }


def canned_responses(language: str | None = None) -> list[CannedResponse]:
    """All canned responses (or one language's), by language then title."""
    query = sa.select(CannedResponse).order_by(CannedResponse.language, CannedResponse.title)
    if language is not None:
        query = query.where(CannedResponse.language == language)
    return list(db.session.scalars(query))


def canned_for_ticket(
    ticket: Ticket, agent: User, *, default_language: str = "nl"
) -> list[FilledCanned]:
    """Every canned response filled in for this ticket; the customer's language first."""
    preferred = reply_language(ticket, default_language)
    filled = []
    for canned in canned_responses():
        values = placeholder_values(ticket, agent, canned.language)
        filled.append(FilledCanned(canned.id, canned.title, canned.language,
                                   fill_placeholders(canned.body, values)))
    filled.sort(key=lambda item: (item.language != preferred, item.language, item.title))
    return filled


def fill_canned(
    canned_id: int, ticket: Ticket, agent: User
) -> FilledCanned | None:
    """One canned response filled in for a ticket, or None if it does not exist."""
    canned = db.session.get(CannedResponse, canned_id)
    if canned is None:
        return None
    values = placeholder_values(ticket, agent, canned.language)
    return FilledCanned(canned.id, canned.title, canned.language,
                        fill_placeholders(canned.body, values))


def reply_language(ticket: Ticket, default_language: str = "nl") -> str:
    """The language to answer in: the ticket's, else the customer's, else the default."""
    for language in (ticket.language, ticket.customer.language):
        if language in LANGUAGES:
            return language
    return pick_language(None, default_language)


def save_canned(
    *, title: str, language: str, body: str, now: datetime, canned: CannedResponse | None = None
) -> CannedResponse:
    """Create or update a canned response after checking its language and placeholders."""
    title = title.strip()
    if not title:
        raise CannedError("a canned response needs a title", "no_title")
    if language not in LANGUAGES:
        raise CannedError(f"language must be one of {', '.join(LANGUAGES)}", "bad_language",
                          allowed=", ".join(LANGUAGES))
    if not body.strip():
        raise CannedError("a canned response needs a text", "no_text")
    unknown = sorted(set(_UNKNOWN_RE.findall(body)) - set(PLACEHOLDERS))
    if unknown:
        found = ", ".join(f"{{{name}}}" for name in unknown)
        allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        raise CannedError(
            f"unknown placeholder {found}; use {allowed}", "unknown_placeholder",
            found=found, allowed=allowed,
        )
    clash = db.session.scalar(
        sa.select(CannedResponse).where(
            CannedResponse.title == title, CannedResponse.language == language
        )
    )
    if clash is not None and clash is not canned:
        raise CannedError(
            f"there is already a {language} canned response called {title!r}",
            "duplicate_title", title=title, language=language,
        )
    if canned is None:
        canned = CannedResponse(created_at=now)
        db.session.add(canned)
    canned.title = title[:200]
    canned.language = language
    canned.body = body.replace("\r\n", "\n")
    db.session.flush()
    return canned


def delete_canned(canned: CannedResponse) -> None:
    """Remove a canned response; replies already sent keep their text, nothing refers to it."""
    db.session.delete(canned)
    db.session.flush()
