"""A batch of mail taken in as one unit of work ends where taking each in alone would."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from bench.email_ingest import generate_mails
from ticketing.mailsource import RawMail, in_written_order

MAILS = 120


@pytest.fixture(scope="module")
def mails() -> tuple[list[RawMail], dict[str, str]]:
    batch = generate_mails(MAILS, seed=11)
    raws = [RawMail(f"generated/{number}.eml", raw) for number, raw in enumerate(batch.mails)]
    return in_written_order(raws), batch.reply_to


def _ingest(tmp_path, name: str, mails: list[RawMail], *, batched: bool) -> dict:
    """Take the mails in on a database of their own; describe where everything ended."""
    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.mail_ingest import ingest_mail, ingest_many
    from ticketing.models import Message, SlaClock, Ticket, TicketEvent

    app = create_app("test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / name}.db",
                     ATTACHMENT_STORAGE_PATH=str(tmp_path / f"{name}-attachments"))
    with app.app_context():
        db.create_all()
        if batched:
            outcomes = [o.outcome for _mail, o in ingest_many(app, mails, parallel=False)]
        else:
            outcomes = [ingest_mail(app, mail.raw, source=mail.source).outcome for mail in mails]
        ticket_of = dict(db.session.execute(
            sa.select(Message.rfc_message_id, Message.ticket_id)
            .where(Message.direction == "in")
        ).all())
        # Tickets by the Message-ID of their first mail: ids may differ, contents may not.
        first_mail = {}
        for mid, ticket_id in sorted(ticket_of.items(), key=lambda item: item[1]):
            first_mail.setdefault(ticket_id, mid)
        tickets = {
            first_mail[t.id]: (t.status.value, t.contact_count, t.repeat_contacts,
                               t.again_mentions, t.sla_state, t.first_response_due_at is not None)
            for t in db.session.scalars(sa.select(Ticket))
        }
        threads = {mid: first_mail[ticket_id] for mid, ticket_id in ticket_of.items()}
        events = Counter(db.session.scalars(sa.select(TicketEvent.type)))
        clocks = Counter(db.session.execute(
            sa.select(SlaClock.metric, SlaClock.cycle, SlaClock.is_running)).all())
        db.session.remove()
        db.engine.dispose()
    return {"outcomes": outcomes, "tickets": tickets, "threads": threads, "events": events,
            "clocks": clocks}


def test_a_batch_ends_where_one_mail_at_a_time_ends(tmp_path, mails):
    ordered, reply_to = mails

    alone = _ingest(tmp_path, "alone", ordered, batched=False)
    batched = _ingest(tmp_path, "batched", ordered, batched=True)

    assert batched["outcomes"] == alone["outcomes"]
    assert batched["threads"] == alone["threads"]
    assert batched["tickets"] == alone["tickets"]
    assert batched["events"] == alone["events"]
    assert batched["clocks"] == alone["clocks"]
    # And both are right: every threaded reply sits on its original's ticket.
    threads = batched["threads"]
    assert all(threads[reply] == threads[original] for reply, original in reply_to.items())
    assert Counter(batched["outcomes"])["created"] < MAILS  # replies did append
