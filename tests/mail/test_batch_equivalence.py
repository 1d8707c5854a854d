"""A batch of mail taken in as one unit of work ends where taking each in alone would."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from bench.email_ingest import generate_mails
from tests.conftest import TEST_DATABASE_URL, skip_or_fail, throwaway_database
from ticketing.mailsource import RawMail, in_written_order

MAILS = 120


def _mail(message_id: str, sender: str, subject: str, text: str, written: str,
          **headers: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "support@example.org"
    mail["Subject"] = subject
    mail["Date"] = f"Thu, 05 Nov 2026 {written} +0100"
    mail["Message-ID"] = f"<{message_id}>"
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail.as_bytes()


def _within_one_batch() -> list[bytes]:
    """Mails that ask the questions a batch must answer from its own work, not the database.

    Written days after the generated ones, so in date order they all land in the last chunk.
    """
    kees = "Kees Bos <kees@example.nl>"
    leak = _mail("leak@kees", kees, "Wasmachine lekt", "Mijn nieuwe wasmachine lekt water.",
                 "09:00:00")
    return [
        leak,
        leak,  # the same mail delivered twice
        # The same customer again, without thread headers: a repeat of a ticket not yet written.
        _mail("leak-again@kees", kees, "Wasmachine", "De wasmachine lekt nog steeds water.",
              "09:05:00"),
        # Someone else answering in that thread: a new ticket, linked for review.
        _mail("stranger@x", "Onbekend <iemand@example.com>", "Re: Wasmachine lekt",
              "Ik heb hetzelfde probleem.", "09:06:00", In_Reply_To="<leak@kees>"),
        # An out-of-office answering it: kept on the thread, no ticket.
        _mail("ooo@x", "Kees Bos <kees@example.nl>", "Afwezig: Wasmachine lekt",
              "Ik ben afwezig tot maandag.", "09:07:00", In_Reply_To="<leak@kees>",
              Auto_Submitted="auto-replied"),
        # A reply read before its original (clock skew): they end up together.
        _mail("early-reply@els", "Els Kok <els@example.nl>", "Re: Factuur",
              "Hierbij nog de bijlage die ik vergat.", "09:08:00",
              In_Reply_To="<late-original@els>", References="<late-original@els>"),
        _mail("late-original@els", "Els Kok <els@example.nl>", "Factuur",
              "Mijn factuur van oktober klopt niet.", "09:09:00"),
        # Five new complaints from one address: three acknowledgements, then the cap.
        *[
            _mail(f"many-{number}@veel", "Veel Schrijver <veel@example.nl>", subject, text,
                  f"09:1{number}:00")
            for number, (subject, text) in enumerate([
                ("Bezorger", "De bezorger was onbeleefd tegen mijn buurvrouw."),
                ("Factuur", "Ik heb oktober dubbel betaald."),
                ("App", "De app crasht bij het inloggen op mijn telefoon."),
                ("Monteur", "Monteur kwam drie uur te laat."),
                ("Wachttijd", "Veertig minuten in de wacht gestaan, niemand nam op."),
            ])
        ],
    ]


@pytest.fixture(scope="module")
def mails() -> tuple[list[RawMail], dict[str, str]]:
    batch = generate_mails(MAILS, seed=11)
    raws = [RawMail(f"generated/{number}.eml", raw) for number, raw in enumerate(batch.mails)]
    crafted = [RawMail(f"crafted/{number}.eml", raw)
               for number, raw in enumerate(_within_one_batch())]
    ordered = in_written_order([*raws, *crafted])
    # They must share one chunk, or the test would not test a batch answering from itself.
    last_chunk = {mail.source for mail in ordered[-(len(ordered) % CHUNK or CHUNK):]}
    assert {mail.source for mail in crafted} <= last_chunk
    return ordered, batch.reply_to


#: small chunks, so that later chunks also find earlier chunks' work in the database
CHUNK = 50


@contextmanager
def _database(backend: str, tmp_path, name: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / name}.db"
        return
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set, so the PostgreSQL run is skipped")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    database = f"{sa.make_url(TEST_DATABASE_URL).database}_{worker}_eq_{name}"
    with throwaway_database(database) as url:
        yield url


def _ingest(tmp_path, name: str, mails: list[RawMail], *, batched: bool, monkeypatch,
            backend: str) -> dict:
    """Take the mails in on a database of their own; describe where everything ended."""
    with _database(backend, tmp_path, name) as url:
        return _ingest_into(url, tmp_path, name, mails, batched=batched,
                            monkeypatch=monkeypatch)


def _ingest_into(url: str, tmp_path, name: str, mails: list[RawMail], *, batched: bool,
                 monkeypatch) -> dict:
    from ticketing import mail_ingest
    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.mail_ingest import ingest_mail, ingest_many
    from ticketing.models import Message, OutboxMessage, SlaClock, Ticket, TicketEvent

    app = create_app("test", SQLALCHEMY_DATABASE_URI=url,
                     ATTACHMENT_STORAGE_PATH=str(tmp_path / f"{name}-attachments"))
    with app.app_context():
        db.create_all()
        monkeypatch.setattr(mail_ingest, "INGEST_CHUNK", CHUNK)
        if batched:
            outcomes = [o.outcome for _mail, o in ingest_many(app, mails, parallel=False)]
        else:
            outcomes = [ingest_mail(app, mail.raw, source=mail.source).outcome for mail in mails]
        ticket_of = dict(db.session.execute(
            sa.select(Message.rfc_message_id, Message.ticket_id)
            .where(Message.direction == "in")
            .order_by(Message.created_at, Message.id)
        ).all())
        # Tickets by the Message-ID of their first mail: ids may differ, contents may not.
        first_mail = {}
        for mid, ticket_id in ticket_of.items():
            first_mail.setdefault(ticket_id, mid)
        tickets = {
            first_mail[t.id]: (t.status.value, t.contact_count, t.repeat_contacts,
                               t.again_mentions, t.sla_state, t.first_response_due_at is not None)
            for t in db.session.scalars(sa.select(Ticket))
        }
        threads = {mid: first_mail[ticket_id] for mid, ticket_id in ticket_of.items()}
        events = Counter(db.session.scalars(sa.select(TicketEvent.type)))
        clocks = Counter(db.session.execute(
            sa.select(SlaClock.metric, SlaClock.cycle, SlaClock.state, SlaClock.is_running,
                      SlaClock.due_at.is_not(None), SlaClock.warn_at.is_not(None))).all())
        outbox = Counter(db.session.scalars(sa.select(OutboxMessage.recipient)))
        linked = sorted(
            (first_mail[t.id], first_mail.get(t.repeat_of_id))
            for t in db.session.scalars(sa.select(Ticket).where(Ticket.repeat_of_id.is_not(None)))
        )
        db.session.remove()
        db.engine.dispose()
    return {"outcomes": outcomes, "tickets": tickets, "threads": threads, "events": events,
            "clocks": clocks, "outbox": outbox, "linked": linked,
            # The reference each ticket got: in the order tickets were opened, without gaps.
            "references": {mail: f"T-{ticket_id}" for ticket_id, mail in first_mail.items()}}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_batch_ends_where_one_mail_at_a_time_ends(tmp_path, mails, caplog, monkeypatch,
                                                    backend):
    ordered, reply_to = mails

    alone = _ingest(tmp_path, "alone", ordered, batched=False, monkeypatch=monkeypatch,
                    backend=backend)
    batched = _ingest(tmp_path, "batched", ordered, batched=True, monkeypatch=monkeypatch,
                      backend=backend)

    # Each chunk went in at once, answered by its IntakeCache, not record by record.
    assert "record by record" not in caplog.text

    assert batched["outcomes"] == alone["outcomes"]
    assert batched["threads"] == alone["threads"]
    assert batched["tickets"] == alone["tickets"]
    assert batched["events"] == alone["events"]
    assert batched["clocks"] == alone["clocks"]
    assert batched["outbox"] == alone["outbox"]
    assert batched["linked"] == alone["linked"]
    assert batched["references"] == alone["references"]
    # What the crafted mails are there for happened, in both.
    crafted = batched["outcomes"][-12:]
    assert crafted.count("duplicate") == 1
    assert crafted.count("auto_reply") == 1
    assert batched["outbox"]["veel@example.nl"] == 3
    assert ("stranger@x", "leak@kees") in batched["linked"]
    threads = batched["threads"]
    assert threads["leak-again@kees"] == threads["leak@kees"]
    assert threads["early-reply@els"] == threads["late-original@els"]
    # And both are right: every threaded reply sits on its original's ticket.
    threads = batched["threads"]
    assert all(threads[reply] == threads[original] for reply, original in reply_to.items())
    assert Counter(batched["outcomes"])["created"] < MAILS  # replies did append
