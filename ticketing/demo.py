"""The demo organisation `make run` seeds: people, teams, a Dutch SLA policy and tickets."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ticketing.domain.contact import (
    Channel,
    Contact,
    Identity,
    IdentityKind,
    ThreadHints,
)
from ticketing.extensions import db
from ticketing.models import CannedResponse, Role, SlaPolicy, Team, User
from ticketing.services.accounts import create_user
from ticketing.services.intake import IntakeSettings, receive_contact

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DEMO_PASSWORD = "demo-password-1"
ADMIN_EMAIL = "admin@demo.example"

STAFF = [
    ("admin@demo.example", "Sanne Admin", Role.admin, None, "nl"),
    ("supervisor@demo.example", "Pieter Supervisor", Role.supervisor, "Klantenservice", "nl"),
    ("agent@demo.example", "Fatima Agent", Role.agent, "Klantenservice", "nl"),
    ("agent2@demo.example", "Joost Agent", Role.agent, "Klantenservice", "nl"),
    ("agent3@demo.example", "Emma Agent", Role.agent, "Facturatie", "en"),
]

DUTCH_HOURS = {day: [["08:30", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri")}
DUTCH_HOURS["sat"] = [["10:00", "14:00"]]

DEMO_POLICY = {
    "name": "Standaard (NL kantooruren)",
    "calendar": {
        "timezone": "Europe/Amsterdam",
        "hours": DUTCH_HOURS,
        "holidays": {"country": "NL", "dates": []},
    },
    "targets": {
        "low": {"first_response": 960, "next_response": 1440, "resolution": 7200},
        "normal": {"first_response": 240, "next_response": 480, "resolution": 2880},
        "high": {"first_response": 120, "next_response": 240, "resolution": 1440},
        "urgent": {"first_response": 30, "next_response": 60, "resolution": 480},
    },
    "pause_statuses": ["pending", "on_hold"],
    "warn_ratio": 0.75,
}

FIRST_NAMES = ["Anna", "Bram", "Chantal", "Daan", "Eva", "Femke", "Gijs", "Hanna", "Ivo", "Jasper",
               "Kim", "Lars", "Mila", "Noah", "Olivia", "Pim", "Roos", "Sem", "Tess", "Vera",
               "Willem", "Yara", "Zoë", "Mohammed", "Priya", "James", "Sarah", "Tom", "Lucy",
               "Ahmed"]
LAST_NAMES = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
              "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
              "Smith", "Brown", "Wilson", "El Amrani"]

COMPLAINTS_NL = [
    ("Pakket niet bezorgd", "Mijn bestelling {order} zou dinsdag bezorgd worden maar ik heb "
     "nog niets ontvangen. De track & trace staat al drie dagen stil. Kunt u uitzoeken waar "
     "het pakket is?"),
    ("Verkeerde maat geleverd", "Ik heb schoenen besteld in maat 42 maar maat 40 ontvangen "
     "(order {order}). Hoe kan ik dit omruilen zonder extra kosten?"),
    ("Dubbel afgeschreven", "Er is twee keer 89,95 euro van mijn rekening afgeschreven voor "
     "bestelling {order}. Graag het teveel betaalde terugstorten."),
    ("Wasmachine lekt", "De wasmachine die ik vorige maand kocht lekt water aan de voorkant. "
     "Het garantiebewijs zit in de bijlage van mijn eerste mail. Wanneer kan er een monteur "
     "komen?"),
    ("Klantenservice niet bereikbaar", "Ik heb vanochtend een uur in de wacht gestaan en "
     "daarna werd de verbinding verbroken. Ik wil graag weten wat er met mijn retour {order} "
     "gebeurt."),
    ("Factuur klopt niet", "Op mijn factuur staan verzendkosten terwijl ik gratis verzending "
     "had volgens de actie. Wilt u de factuur aanpassen?"),
    ("Beschadigd product", "De lamp uit order {order} kwam kapot aan: het glas was gebroken. "
     "Ik heb foto's gemaakt. Wat moet ik nu doen?"),
    ("Abonnement opzeggen lukt niet", "Ik probeer mijn abonnement op te zeggen maar de knop "
     "in mijn account geeft een foutmelding. Wilt u het voor mij opzeggen per einde maand?"),
]
REPEAT_NL = [
    "Ik mail nu alweer over bestelling {order}, er is nog steeds niets bezorgd.",
    "Voor de derde keer: het bedrag is nog altijd niet teruggestort. Dit is echt niet oké.",
    "De wasmachine lekt weer, ook na het bezoek van de monteur. Opnieuw een afspraak dus.",
    "Ik heb al eerder gebeld over deze factuur en het is nog steeds niet aangepast.",
]
COMPLAINTS_EN = [
    ("Parcel missing", "My order {order} was marked as delivered yesterday but nothing arrived. "
     "My neighbours have not received it either. Please look into it."),
    ("Charged twice", "I was charged twice for order {order}. Please refund the duplicate "
     "payment of EUR 54.20."),
    ("Broken on arrival", "The coffee grinder from order {order} does not switch on. I tried "
     "two different sockets. I would like a replacement."),
    ("Wrong item", "I ordered the blue jacket but received a green one (order {order}). How do "
     "I exchange it?"),
    ("Refund not received", "I returned order {order} two weeks ago and the refund has not "
     "arrived. The return was signed for by your warehouse."),
]
REPEAT_EN = [
    "Following up again on order {order}: still no parcel and no answer to my email.",
    "This is the third time I am writing about the refund. It still has not arrived.",
    "Once more: the grinder still does not work and nobody has replied.",
]
SMS_NL = [
    "Hoi, mijn pakket {order} is nog niet binnen. Kunnen jullie checken?",
    "Monteur is niet gekomen vandaag, wie kan mij bellen?",
    "Bezorger heeft pakket bij verkeerde adres afgeleverd. Order {order}",
]
SMS_REPEAT_NL = [
    "Alweer geen reactie! Pakket {order} nog steeds niet binnen.",
    "Nog steeds niks gehoord over de monteur, 2e keer dat ik app",
]
REPLIES_NL = [
    "Beste {name},\n\nExcuses voor het ongemak. Ik heb het bij onze vervoerder nagevraagd en "
    "laat u binnen één werkdag weten waar uw pakket is.\n\nMet vriendelijke groet,\n{agent}",
    "Beste {name},\n\nDank voor uw bericht. Het teveel betaalde bedrag wordt binnen vijf "
    "werkdagen teruggestort.\n\nMet vriendelijke groet,\n{agent}",
]
REPLIES_EN = [
    "Dear {name},\n\nSorry for the trouble. I have asked the carrier and will update you within "
    "one working day.\n\nKind regards,\n{agent}",
]


@dataclass
class DemoCustomer:
    name: str
    email: str | None
    phone: str | None
    language: str


def demo_exists() -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == ADMIN_EMAIL)) is not None


def seed_staff(now: datetime) -> dict[str, User]:
    teams: dict[str, Team] = {}
    for name, email in (("Klantenservice", "klantenservice@demo.example"),
                        ("Facturatie", "facturatie@demo.example")):
        teams[name] = Team(name=name, email=email, created_at=now)
        db.session.add(teams[name])
    users = {}
    for email, name, role, team, language in STAFF:
        users[email] = create_user(
            email=email, name=name, password=DEMO_PASSWORD, role=role,
            team=teams.get(team) if team else None, language=language, now=now,
        )
    db.session.add(SlaPolicy(
        name=DEMO_POLICY["name"], position=10, conditions={},
        calendar=DEMO_POLICY["calendar"], targets=DEMO_POLICY["targets"],
        pause_statuses=DEMO_POLICY["pause_statuses"], warn_ratio=DEMO_POLICY["warn_ratio"],
        created_at=now, updated_at=now,
    ))
    db.session.add(SlaPolicy(
        name="Spoed 24/7", position=1, conditions={"priority": ["urgent"]},
        calendar={"timezone": "Europe/Amsterdam", "24/7": True},
        targets={"urgent": {"first_response": 30, "next_response": 60, "resolution": 480}},
        pause_statuses=["pending"], warn_ratio=0.75, created_at=now, updated_at=now,
    ))
    for title, language, body in (
        ("Excuses vertraging", "nl", "Beste {customer_name},\n\nExcuses voor de vertraging "
         "rond {ticket_ref}. Wij zoeken het uit en komen vandaag bij u terug.\n\nMet "
         "vriendelijke groet,\n{agent_name}"),
        ("Apology for the delay", "en", "Dear {customer_name},\n\nSorry for the delay with "
         "{ticket_ref}. We are looking into it and will get back to you today.\n\nKind "
         "regards,\n{agent_name}"),
        ("Terugbetaling gestart", "nl", "Beste {customer_name},\n\nDe terugbetaling voor "
         "{ticket_ref} is gestart en staat binnen vijf werkdagen op uw rekening.\n\nMet "
         "vriendelijke groet,\n{agent_name}"),
    ):
        db.session.add(CannedResponse(title=title, language=language, body=body,
                                      created_at=now))
    db.session.flush()
    return users


def _business_instant(rng: random.Random, day: datetime) -> datetime:
    local = day.astimezone(AMSTERDAM).replace(
        hour=rng.randint(7, 20), minute=rng.randint(0, 59), second=rng.randint(0, 59),
        microsecond=0,
    )
    return local.astimezone(ZoneInfo("UTC"))


def _customers(rng: random.Random, count: int) -> list[DemoCustomer]:
    people = []
    for number in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        slug = f"{first}.{last}".lower().replace(" ", "").replace("ë", "e").replace("'", "")
        language = "en" if first in {"James", "Sarah", "Tom", "Lucy", "Priya"} else "nl"
        email = f"{slug}{number}@example.{'nl' if language == 'nl' else 'com'}"
        phone = f"+316{rng.randint(10_000_000, 99_999_999)}"
        has_email, has_phone = rng.random() < 0.85, rng.random() < 0.5
        people.append(DemoCustomer(f"{first} {last}", email if has_email or not has_phone
                                   else None, phone if has_phone else None, language))
    return people


ReplyFunction = Callable[..., object]


def seed_tickets(
    *, now: datetime, settings: IntakeSettings, staff: dict[str, User], count: int = 200,
    reply: ReplyFunction, solve: ReplyFunction, seed: int = 2026,
) -> int:
    """Replay a month of contacts through the real intake, with agent replies and solutions.

    `reply(ticket, agent, text, at)` and `solve(ticket, agent, at)` are the agent actions, passed
    in by the caller so the demo exercises exactly what the back office does.
    """
    rng = random.Random(seed)
    agents = [u for u in staff.values() if u.role == Role.agent]
    people = _customers(rng, int(count * 0.7))
    plans: list[tuple[datetime, str, object]] = []
    for number in range(count):
        person = rng.choice(people)
        opened = _business_instant(rng, now - timedelta(days=rng.uniform(0.2, 28)))
        order = f"NL{rng.randint(100000, 999999)}"
        channel = _channel_for(rng, person)
        plans.append((opened, "contact", (person, channel, order, number, False)))
        if rng.random() < 0.18:
            plans.append((opened + timedelta(days=rng.uniform(0.5, 6)), "contact",
                          (person, channel if rng.random() < 0.6 else _channel_for(rng, person),
                           order, number, True)))
    plans.sort(key=lambda plan: plan[0])
    created = 0
    for at, _kind, payload in plans:
        if at >= now:
            continue
        person, channel, order, number, is_repeat = payload  # type: ignore[misc]
        contact = _contact(rng, person, channel, order, number, is_repeat, at)
        result = receive_contact(contact, now=at, settings=settings)
        created += result.outcome == "created"
        ticket = result.ticket
        if ticket is None or is_repeat:
            continue
        roll = rng.random()
        agent = rng.choice(agents)
        if roll < 0.15:
            continue  # nobody answered yet: these breach
        answer_at = at + timedelta(hours=rng.choice([0.25, 0.5, 0.5, 1, 1, 2, 2, 3, 6, 20]))
        if answer_at >= now:
            continue
        templates = REPLIES_NL if person.language == "nl" else REPLIES_EN
        text = rng.choice(templates).format(name=person.name.split()[0], agent=agent.name)
        reply(ticket, agent, text, answer_at)
        if roll > 0.35:
            solve_at = answer_at + timedelta(hours=rng.uniform(1, 48))
            if solve_at < now:
                solve(ticket, agent, solve_at)
    return created


def _channel_for(rng: random.Random, person: DemoCustomer) -> Channel:
    if person.email and person.phone:
        return rng.choice([Channel.email, Channel.email, Channel.sms, Channel.web])
    if person.phone:
        return rng.choice([Channel.sms, Channel.web])
    return rng.choice([Channel.email, Channel.email, Channel.web])


def _contact(
    rng: random.Random, person: DemoCustomer, channel: Channel, order: str, number: int,
    is_repeat: bool, at: datetime,
) -> Contact:
    dutch = person.language == "nl"
    if channel == Channel.sms:
        text = rng.choice(SMS_REPEAT_NL if is_repeat else SMS_NL).format(order=order)
        subject = None
    else:
        if is_repeat:
            text = rng.choice(REPEAT_NL if dutch else REPEAT_EN).format(order=order)
            subject = ("Nogmaals: " if dutch else "Again: ") + f"order {order}"
        else:
            subject, body = rng.choice(COMPLAINTS_NL if dutch else COMPLAINTS_EN)
            text = body.format(order=order)
    identities = []
    if person.email:
        identities.append(Identity(IdentityKind.email, person.email, person.name))
    if person.phone:
        identities.append(Identity(IdentityKind.phone, person.phone, person.name))
    if channel == Channel.sms:
        sender = next(i for i in identities if i.kind == IdentityKind.phone)
    elif channel == Channel.email:
        sender = next(i for i in identities if i.kind == IdentityKind.email)
    else:
        sender = identities[0]
    suffix = "r" if is_repeat else "o"
    external = f"demo-{number}-{suffix}"
    return Contact(
        channel=channel,
        external_id=f"{external}@demo.example" if channel == Channel.email else external,
        sender=sender,
        other_identities=tuple(identities[1:]) if channel == Channel.web else (),
        received_at=at,
        text=text,
        new_text=text,
        subject=subject,
        language="nl" if dutch else "en",
        thread=ThreadHints(message_id=f"{external}@demo.example")
        if channel == Channel.email else ThreadHints(),
        metadata={"category": "delivery", "order_number": order} if channel == Channel.web
        else {},
    )
