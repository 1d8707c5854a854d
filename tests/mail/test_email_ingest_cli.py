"""`flask email ingest`: files, folders, maildirs, mbox and stdin, one JSON line per message."""

from __future__ import annotations

import json
import mailbox
import random
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ticketing.models import InboundRecord, Message, OutboxMessage, Ticket

BASE_DATE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TICKET_REF = re.compile(r"^T-\d+$")


def compose(
    number: int,
    *,
    sender: str | None = None,
    name: str = "Klant",
    subject: str | None = None,
    written: datetime | None = None,
    in_reply_to: str | None = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain customer mail; its Message-ID is <cli-NUMBER@example.nl>."""
    message = EmailMessage()
    message["From"] = f"{name} {number} <{sender or f'klant{number}@example.nl'}>"
    message["To"] = "support@example.org"
    message["Subject"] = subject or f"Klacht over bestelling {number}"
    message["Date"] = format_datetime(written or BASE_DATE + timedelta(minutes=number))
    message["Message-ID"] = f"<cli-{number}@example.nl>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for key, value in (headers or {}).items():
        message[key] = value
    message.set_content(body or f"Bestelling {number} is beschadigd aangekomen.")
    return message.as_bytes()


def ingest(runner, *args: str, stdin: bytes | None = None) -> list[dict[str, Any]]:
    result = runner.invoke(args=["email", "ingest", "--no-progress", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def write(path: Path, raw: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return str(path)


def count(db_session, column) -> int:
    return db_session.scalar(sa.select(sa.func.count(column)))


# --- sources --------------------------------------------------------------------------------


def test_eml_files_print_one_line_each_with_the_contract_keys(runner, db_session, tmp_path):
    first = write(tmp_path / "one.eml", compose(1))
    second = write(tmp_path / "two.eml", compose(2))
    lines = ingest(runner, first, second)
    assert [line["source"] for line in lines] == [first, second]
    for number, line in enumerate(lines, start=1):
        assert set(line) == {"source", "message_id", "outcome", "ticket"}
        assert line["message_id"] == f"cli-{number}@example.nl"
        assert line["outcome"] == "created"
        assert TICKET_REF.match(line["ticket"])
    assert lines[0]["ticket"] != lines[1]["ticket"]
    assert count(db_session, InboundRecord.id) == 2


def test_a_folder_is_read_with_its_subfolders(runner, db_session, tmp_path):
    write(tmp_path / "inbox" / "a.eml", compose(3))
    write(tmp_path / "inbox" / "2026" / "b.eml", compose(4))
    lines = ingest(runner, str(tmp_path / "inbox"))
    assert sorted(line["message_id"] for line in lines) == ["cli-3@example.nl", "cli-4@example.nl"]
    assert {line["outcome"] for line in lines} == {"created"}


def test_hidden_files_and_folders_in_a_plain_folder_are_not_mail(runner, db_session, tmp_path):
    write(tmp_path / "inbox" / "a.eml", compose(5))
    write(tmp_path / "inbox" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(tmp_path / "inbox" / ".trash" / "old.eml", compose(6))
    lines = ingest(runner, str(tmp_path / "inbox"))
    assert [line["message_id"] for line in lines] == ["cli-5@example.nl"]
    assert count(db_session, InboundRecord.id) == 1


def test_a_maildir_is_read_from_new_and_cur(runner, db_session, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(compose(5))
    seen = mailbox.MaildirMessage(compose(6))
    seen.set_subdir("cur")
    seen.add_flag("S")
    box.add(seen)
    box.close()
    lines = ingest(runner, str(tmp_path / "Maildir"))
    assert [line["message_id"] for line in lines] == ["cli-5@example.nl", "cli-6@example.nl"]
    assert all(line["source"].startswith(str(tmp_path / "Maildir")) for line in lines)
    assert {line["outcome"] for line in lines} == {"created"}


def test_an_mbox_yields_every_message_in_it(runner, db_session, tmp_path):
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(str(path), create=True)
    for number in (7, 8, 9):
        box.add(compose(number))
    box.close()
    lines = ingest(runner, str(path))
    assert [line["message_id"] for line in lines] == [f"cli-{n}@example.nl" for n in (7, 8, 9)]
    assert [line["source"] for line in lines] == [f"{path}#{key}" for key in range(3)]
    # The mbox "From " separator line is not part of the stored message.
    payloads = db_session.scalars(sa.select(InboundRecord.payload)).all()
    assert all(not payload.startswith(b"From ") for payload in payloads)


def test_stdin_takes_one_message(runner, db_session):
    raw = compose(10)
    lines = ingest(runner, "-", stdin=raw)
    assert lines == [
        {"source": "-", "message_id": "cli-10@example.nl", "outcome": "created",
         "ticket": lines[0]["ticket"]}
    ]
    assert db_session.scalar(sa.select(InboundRecord.payload)) == raw


def test_an_empty_stdin_takes_in_nothing(runner, db_session):
    assert ingest(runner, "-", stdin=b"") == []
    assert count(db_session, InboundRecord.id) == 0


def test_a_missing_path_stops_before_anything_is_stored(runner, db_session, tmp_path):
    existing = write(tmp_path / "one.eml", compose(11))
    result = runner.invoke(args=["email", "ingest", existing, str(tmp_path / "missing.eml")])
    assert result.exit_code != 0
    assert "no such file or folder" in result.output
    assert count(db_session, InboundRecord.id) == 0


def test_the_progress_bar_and_summary_go_to_stderr(runner, db_session, tmp_path):
    write(tmp_path / "in" / "a.eml", compose(12))
    write(tmp_path / "in" / "b.eml", compose(12))
    result = runner.invoke(args=["email", "ingest", "--progress", str(tmp_path / "in")])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["outcome"] for line in result.stdout.splitlines()] == [
        "created", "duplicate",
    ]
    assert "2 messages: 1 created, 1 duplicate" in result.stderr


# --- outcomes -------------------------------------------------------------------------------


def test_a_reply_from_the_customer_is_appended(runner, db_session, tmp_path):
    original = write(tmp_path / "a.eml", compose(20))
    reply = write(tmp_path / "b.eml", compose(21, sender="klant20@example.nl",
                                               in_reply_to="cli-20@example.nl"))
    created, appended = ingest(runner, original, reply)
    assert created["outcome"] == "created"
    assert appended["outcome"] == "appended"
    assert appended["ticket"] == created["ticket"]


def test_the_same_file_twice_is_a_duplicate(runner, db_session, tmp_path):
    path = write(tmp_path / "a.eml", compose(22))
    [first] = ingest(runner, path)
    [second] = ingest(runner, path)
    assert second == {**first, "outcome": "duplicate"}
    # Both raw inputs are kept; only one message exists.
    assert count(db_session, InboundRecord.id) == 2
    assert count(db_session, Message.id) == 2  # the customer's mail and our acknowledgement


def _acknowledgement_id(db_session) -> str:
    return db_session.scalar(
        sa.select(Message.rfc_message_id).where(Message.kind == "acknowledgement")
    )


def test_an_out_of_office_answer_to_our_acknowledgement_stays_on_its_thread(
    runner, db_session, tmp_path
):
    [created] = ingest(runner, write(tmp_path / "a.eml", compose(23)))
    queued = count(db_session, OutboxMessage.id)
    answer = compose(
        24, sender="klant23@example.nl", subject="Afwezig: Ontvangen",
        in_reply_to=_acknowledgement_id(db_session),
        body="Ik ben tot maandag afwezig.",
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )
    [line] = ingest(runner, write(tmp_path / "b.eml", answer))
    assert line["outcome"] == "auto_reply"
    assert line["ticket"] == created["ticket"]
    assert count(db_session, OutboxMessage.id) == queued  # no acknowledgement of an auto-reply
    ticket = db_session.scalar(sa.select(Ticket))
    assert ticket.contact_count == 1


def test_an_auto_reply_outside_any_thread_opens_nothing(runner, db_session, tmp_path):
    answer = compose(25, subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    [line] = ingest(runner, write(tmp_path / "a.eml", answer))
    assert line["outcome"] == "auto_reply"
    assert line["ticket"] is None
    assert count(db_session, Ticket.id) == 0
    assert count(db_session, OutboxMessage.id) == 0


def _bounce(about_message_id: str, recipient: str) -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.nl>
To: support@example.org
Subject: Undelivered Mail Returned to Sender
Date: {format_datetime(BASE_DATE + timedelta(hours=1))}
Message-ID: <bounce-1@mx.example.nl>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-boundary"

--dsn-boundary
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.nl.
Your message could not be delivered to one or more recipients.

--dsn-boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.nl

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected

--dsn-boundary
Content-Type: text/rfc822-headers

From: Klantenservice <support@example.org>
To: {recipient}
Subject: Ontvangen
Message-ID: <{about_message_id}>

--dsn-boundary--
""".replace("\n", "\r\n").encode()


def test_a_bounce_of_our_acknowledgement_marks_it_failed_on_its_ticket(
    runner, db_session, tmp_path
):
    [created] = ingest(runner, write(tmp_path / "a.eml", compose(26)))
    ack_id = _acknowledgement_id(db_session)
    queued = count(db_session, OutboxMessage.id)
    [line] = ingest(runner, write(tmp_path / "b.eml", _bounce(ack_id, "klant26@example.nl")))
    assert line["outcome"] == "bounce"
    assert line["ticket"] == created["ticket"]
    assert line["message_id"] == "bounce-1@mx.example.nl"
    ack = db_session.scalar(sa.select(Message).where(Message.rfc_message_id == ack_id))
    assert ack.delivery_state.value == "failed"
    assert count(db_session, Ticket.id) == 1
    assert count(db_session, OutboxMessage.id) == queued


def test_a_message_without_any_sender_is_quarantined_with_its_reason(
    runner, db_session, tmp_path
):
    raw = (
        b"To: support@example.org\r\nSubject: Zonder afzender\r\n"
        b"Date: Mon, 2 Mar 2026 09:00:00 +0100\r\nMessage-ID: <nofrom@example.nl>\r\n\r\n"
        b"Wie ben ik?\r\n"
    )
    path = write(tmp_path / "a.eml", raw)
    [line] = ingest(runner, path)
    assert line["outcome"] == "quarantined"
    assert line["ticket"] is None
    assert "no sender" in line["reason"]
    record = db_session.scalar(sa.select(InboundRecord))
    assert record.status.value == "quarantined"
    assert record.payload == raw
    assert record.source == path


# --- date order -----------------------------------------------------------------------------


def test_a_reply_read_before_its_original_ends_on_one_ticket(runner, db_session, tmp_path):
    # File names sort the reply first; the batch is processed in the order it was written.
    write(tmp_path / "batch" / "a-reply.eml",
          compose(31, sender="klant30@example.nl", in_reply_to="cli-30@example.nl"))
    write(tmp_path / "batch" / "b-original.eml", compose(30))
    lines = ingest(runner, str(tmp_path / "batch"))
    assert [line["message_id"] for line in lines] == ["cli-30@example.nl", "cli-31@example.nl"]
    assert [line["outcome"] for line in lines] == ["created", "appended"]
    assert lines[0]["ticket"] == lines[1]["ticket"]
    assert count(db_session, Ticket.id) == 1


def test_a_reply_dated_before_its_original_still_joins_it(runner, db_session, tmp_path):
    # The customer's clock was wrong: the reply claims to be older than the original. It opens
    # a ticket first, and the original, arriving later, joins that ticket.
    reply = compose(33, sender="klant32@example.nl", in_reply_to="cli-32@example.nl",
                    written=BASE_DATE - timedelta(days=1))
    lines = ingest(runner, write(tmp_path / "a.eml", reply), write(tmp_path / "b.eml", compose(32)))
    assert [line["outcome"] for line in lines] == ["created", "appended"]
    assert lines[0]["ticket"] == lines[1]["ticket"]


def test_an_impossible_date_sorts_last_instead_of_stopping_the_batch(runner, db_session, tmp_path):
    # 9999-12-31 23:59:59 -12:00 is past datetime.max in UTC; it once crashed the sort.
    poison = compose(34).replace(
        format_datetime(BASE_DATE + timedelta(minutes=34)).encode(),
        b"Fri, 31 Dec 9999 23:59:59 -1200",
    )
    assert b"9999" in poison
    first, second = write(tmp_path / "a.eml", poison), write(tmp_path / "b.eml", compose(35))
    lines = ingest(runner, first, second)
    assert [line["message_id"] for line in lines] == ["cli-35@example.nl", "cli-34@example.nl"]
    assert [line["outcome"] for line in lines] == ["created", "created"]


@pytest.mark.slow
def test_three_hundred_replies_shuffled_with_their_originals_all_append(
    app, runner, db_session, tmp_path, monkeypatch
):
    # django-helpdesk's import turned 151 of 300 such replies into new tickets.
    # Acknowledgements play no part in threading; leaving them out halves the test's time.
    monkeypatch.setitem(app.config, "EMAIL_ACKNOWLEDGEMENT", False)
    shuffler = random.Random(300)
    mails = []
    for number in range(1000, 1300):
        written = BASE_DATE + timedelta(minutes=number)
        mails.append(compose(number, written=written))
        mails.append(compose(number + 1000, sender=f"klant{number}@example.nl",
                             subject=f"Re: Klacht over bestelling {number}",
                             in_reply_to=f"cli-{number}@example.nl",
                             written=written + timedelta(minutes=shuffler.randint(1, 600)),
                             body="Nog steeds geen antwoord op mijn klacht."))
    shuffler.shuffle(mails)
    path = tmp_path / "batch.mbox"
    box = mailbox.mbox(str(path), create=True)
    for raw in mails:
        box.add(raw)
    box.close()

    lines = ingest(runner, str(path))
    by_id = {line["message_id"]: line for line in lines}
    assert len(by_id) == 600
    replies = [by_id[f"cli-{number + 1000}@example.nl"] for number in range(1000, 1300)]
    originals = [by_id[f"cli-{number}@example.nl"] for number in range(1000, 1300)]
    assert [line["outcome"] for line in replies] == ["appended"] * 300
    assert [line["outcome"] for line in originals] == ["created"] * 300
    assert [r["ticket"] for r in replies] == [o["ticket"] for o in originals]
    assert count(db_session, Ticket.id) == 300


def test_stdin_from_an_mta_pipe_may_start_with_the_envelope_line(runner, db_session):
    # Postfix's pipe(8) with flag F and procmail hand over "From sender date" first.
    raw = b"From klant40@example.nl Mon Mar  2 09:00:00 2026\n" + compose(40)
    [line] = ingest(runner, "-", stdin=raw)
    assert line["outcome"] == "created"
    assert line["message_id"] == "cli-40@example.nl"
    assert db_session.scalar(sa.select(InboundRecord.payload)) == raw


def test_a_batch_parsed_in_the_helper_process_gives_the_same_lines(
    runner, db_session, tmp_path, monkeypatch
):
    import ticketing.mail_ingest as mail_ingest

    # Small chunks, so a few mails already take the parallel path through several chunks.
    monkeypatch.setattr(mail_ingest, "INGEST_CHUNK", 2)
    no_sender = (
        b"To: support@example.org\r\nSubject: Zonder afzender\r\n"
        b"Date: Mon, 2 Mar 2026 08:41:30 +0000\r\nMessage-ID: <nofrom-batch@example.nl>\r\n\r\n"
        b"Wie ben ik?\r\n"
    )
    write(tmp_path / "batch" / "1.eml", compose(40))
    write(tmp_path / "batch" / "2.eml", compose(41, sender="klant40@example.nl",
                                                in_reply_to="cli-40@example.nl"))
    write(tmp_path / "batch" / "3.eml", no_sender)
    write(tmp_path / "batch" / "4.eml", compose(42))
    write(tmp_path / "batch" / "5.eml", compose(42))  # the same mail delivered twice
    write(tmp_path / "batch" / "6.eml", compose(43))
    calls = []
    real = mail_ingest.ingest_many

    def spy(*args, **kwargs):
        calls.append(kwargs.get("parallel"))
        return real(*args, **{**kwargs, "parallel": True})

    monkeypatch.setattr(mail_ingest, "ingest_many", spy)
    lines = ingest(runner, str(tmp_path / "batch"))

    assert calls == [None]
    assert [(line["message_id"], line["outcome"]) for line in lines] == [
        ("cli-40@example.nl", "created"),
        ("cli-41@example.nl", "appended"),
        ("nofrom-batch@example.nl", "quarantined"),
        ("cli-42@example.nl", "created"),
        ("cli-42@example.nl", "duplicate"),
        ("cli-43@example.nl", "created"),
    ]
    assert "no sender" in lines[2]["reason"]
    assert lines[0]["ticket"] == lines[1]["ticket"]
    assert count(db_session, InboundRecord.id) == 6
    assert count(db_session, Ticket.id) == 3


def test_chunks_are_cut_by_count_and_by_bytes(monkeypatch):
    import ticketing.mail_ingest as mail_ingest
    from ticketing.mailsource import RawMail

    monkeypatch.setattr(mail_ingest, "INGEST_CHUNK", 3)
    monkeypatch.setattr(mail_ingest, "INGEST_CHUNK_BYTES", 100)
    sizes = [10, 10, 10, 10, 60, 50, 500, 10]
    mails = [RawMail(f"{n}.eml", b"x" * size) for n, size in enumerate(sizes)]

    chunks = mail_ingest._chunks(mails)

    # Three at most; a chunk ends before the mail that would take it over 100 bytes; a mail
    # larger than that goes alone.
    assert [[len(mail.raw) for mail in chunk] for chunk in chunks] == [
        [10, 10, 10], [10, 60], [50], [500], [10]
    ]
    assert [mail for chunk in chunks for mail in chunk] == mails
