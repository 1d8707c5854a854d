"""Generated complaint mail through the `flask email ingest` path on SQLite and PostgreSQL.

Usage (from the repository root):

    .venv/bin/python bench/email_ingest.py                        # 2,000 mails, both databases
    .venv/bin/python bench/email_ingest.py --backend postgresql --phases   # time per step
    BENCH_PROFILE_SORT=tottime .venv/bin/python bench/email_ingest.py --profile 40

What happens:
1. 2,000 mails are generated (seed 4): new complaints and customers' replies to them, half
   Dutch and half English, about 10% with an attachment (photo, PDF or screenshot), about a
   quarter as Outlook-style text + HTML, replies quoting the original under "Op ... schreef" /
   "On ... wrote" or an Outlook "Van:/Verzonden:" block. Most replies carry In-Reply-To and
   References; some are a fresh mail about the same order (no headers), as customers do.
   They are written to one mbox file, shuffled, so the batch must be put in date order.
2. For each database: SQLite is a new file in a temporary folder (WAL, as the embedded
   default); PostgreSQL is BENCH_DATABASE_URL (default
   postgresql+psycopg://postgres@127.0.0.1:5432/bench_email), dropped and created again. The
   schema comes from `db.create_all()`.
3. The timed part is exactly what `flask email ingest BATCH.mbox` does per batch:
   `read_sources` + `in_written_order`, then `mail_ingest.ingest_many`: chunks of 200 raw mails
   stored and committed, parsed in a helper process, and each chunk taken in as one unit of
   work (`pipeline.process_batch`). Acknowledgements are queued in the outbox as in
   production; delivering them (the CLI's `kick_outbox()` afterwards) is not timed.
4. It reports messages/s by wall clock and by this process's CPU time (the database server's
   CPU is not in the second figure), the outcomes, and checks that every reply ended on its
   original's ticket and nothing was quarantined. --phases adds the time of each intake step
   (wall and CPU per mail) and the SQL statements per mail; --profile adds cProfile's table.

Bounded: at most 20,000 mails; the batch is held in memory, as the CLI does.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import mailbox
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import recreate_database  # noqa: E402

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_email"
)
MAX_MAILS = 20_000
#: how --profile orders its table ("tottime" shows the hot functions themselves)
PROFILE_SORT = os.environ.get("BENCH_PROFILE_SORT", "cumulative")
START = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
SUPPORT = "support@example.org"

FIRST_NAMES = ("Sanne", "Daan", "Fleur", "Bram", "Lotte", "Joost", "Emma", "Thijs", "Noor",
               "Ruben", "Olivia", "James", "Amelia", "Harry", "Grace", "Oliver", "Chloe", "Jack")
LAST_NAMES = ("de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
              "Mulder", "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "O'Brien")
DOMAINS = ("example.nl", "voorbeeld.nl", "example.com", "mail.example.org", "klant.example.net")

NL_SUBJECTS = ("Bestelling {order} beschadigd", "Factuur {invoice} klopt niet",
               "Internet valt steeds weg", "Monteur niet verschenen", "Retour {order}",
               "Klacht over levering", "Dubbel afgeschreven")
EN_SUBJECTS = ("Order {order} arrived damaged", "Invoice {invoice} is wrong",
               "Internet keeps dropping", "Engineer did not turn up", "Return {order}",
               "Complaint about delivery", "Charged twice")
NL_BODIES = (
    "Beste klantenservice,\n\nMijn bestelling {order} is beschadigd aangekomen. De doos was "
    "ingedeukt en het scherm is gebarsten. Ik wil graag een nieuw exemplaar of mijn geld "
    "terug.\n\nMet vriendelijke groet,\n{name}",
    "Hallo,\n\nSinds {weekday} valt mijn internetverbinding om de paar minuten weg. Ik heb "
    "de modem al opnieuw opgestart. Wanneer wordt dit opgelost?\n\nGroet,\n{name}",
    "Geachte heer, mevrouw,\n\nOp factuur {invoice} staat een bedrag van EUR {amount} dat ik "
    "niet herken. Ik heb dit abonnement in september opgezegd. Graag een creditnota.\n\n"
    "Met vriendelijke groet,\n{name}\nTel. 06-{phone}",
    "Goedemiddag,\n\nDe monteur zou {weekday} tussen 8 en 12 uur langskomen, maar er is "
    "niemand geweest. Ik heb daarvoor een dag vrij genomen.\n\nMvg,\n{name}",
)
EN_BODIES = (
    "Hello,\n\nMy order {order} arrived damaged: the box was crushed and the screen is "
    "cracked. Please send a replacement or refund me.\n\nKind regards,\n{name}",
    "Hi,\n\nSince {weekday} my internet connection drops every few minutes. I have already "
    "restarted the router. When will this be fixed?\n\nThanks,\n{name}",
    "Dear support team,\n\nInvoice {invoice} charges me {amount} pounds that I do not "
    "recognise. I cancelled this subscription in September. Please credit it.\n\n"
    "Best regards,\n{name}\nPhone 07700 {phone}",
    "Good afternoon,\n\nThe engineer was due on {weekday} between 8 and 12 but nobody came. I "
    "took a day off work for this.\n\nRegards,\n{name}",
)
NL_REPLIES = (
    "Ik heb nog steeds niets gehoord over {order}. Dit is de tweede keer dat ik mail.",
    "Het probleem is er weer. Kunnen jullie mij vandaag nog bellen?",
    "Hierbij de foto's die u vroeg. Graag snel een oplossing.",
    "Alweer geen reactie. Ik overweeg mijn abonnement op te zeggen.",
)
EN_REPLIES = (
    "I still have not heard anything about {order}. This is the second time I am writing.",
    "The problem is back again. Could you call me today?",
    "Here are the photos you asked for. Please sort this out quickly.",
    "Again no answer. I am thinking of cancelling my subscription.",
)
WEEKDAYS = {"nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag"),
            "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")}
ATTACHMENTS = (
    ("foto-schade.jpg", "image", "jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", 40_000),
    ("factuur.pdf", "application", "pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 60_000),
    ("screenshot.png", "image", "png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 25_000),
)


@dataclass
class Original:
    number: int
    message_id: str
    sender: str
    name: str
    language: str
    subject: str
    text: str
    written: datetime


@dataclass
class GeneratedBatch:
    mails: list[bytes]
    originals: int
    replies: int
    threaded_replies: int
    with_attachments: int
    #: reply Message-ID -> the Message-ID of the original it answers
    reply_to: dict[str, str] = field(default_factory=dict)


def generate_mails(count: int = 2000, seed: int = 4) -> GeneratedBatch:
    """Generate `count` mails, about half new complaints and half replies, shuffled."""
    rng = random.Random(seed)
    customers = [_customer(rng, number) for number in range(max(count // 3, 1))]
    originals: list[Original] = []
    mails: list[tuple[datetime, bytes]] = []
    batch = GeneratedBatch([], 0, 0, 0, 0)
    clock = START
    for number in range(count):
        clock += timedelta(seconds=rng.randint(20, 240))
        if originals and number % 2 == 1:
            original = rng.choice(originals[-200:])
            written = max(clock, original.written + timedelta(minutes=rng.randint(5, 600)))
            threaded = rng.random() < 0.85
            raw, has_attachment = _reply(rng, number, original, written, threaded=threaded)
            batch.replies += 1
            batch.threaded_replies += threaded
            if threaded:
                batch.reply_to[_message_id(number)] = original.message_id
        else:
            address, name, language = rng.choice(customers)
            original = _original(rng, number, address, name, language, clock)
            originals.append(original)
            raw, has_attachment = _compose_original(rng, original)
            written = clock
            batch.originals += 1
        batch.with_attachments += has_attachment
        mails.append((written, raw))
    rng.shuffle(mails)
    batch.mails = [raw for _written, raw in mails]
    return batch


def _customer(rng: random.Random, number: int) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    language = "nl" if rng.random() < 0.5 else "en"
    return f"{local}{number}@{rng.choice(DOMAINS)}", f"{first} {last}", language


def _message_id(number: int) -> str:
    return f"bench-{number:06d}.{number * 7919 % 100_003:05d}@mail.example.nl"


def _original(rng: random.Random, number: int, address: str, name: str, language: str,
              written: datetime) -> Original:
    values = {
        "order": f"{rng.randint(100_000, 999_999)}",
        "invoice": f"F{rng.randint(2026_0001, 2026_9999)}",
        "amount": f"{rng.randint(12, 480)},{rng.randint(0, 99):02d}",
        "weekday": rng.choice(WEEKDAYS[language]),
        "phone": f"{rng.randint(10_000_000, 99_999_999)}",
        "name": name,
    }
    subjects, bodies = (NL_SUBJECTS, NL_BODIES) if language == "nl" else (EN_SUBJECTS, EN_BODIES)
    return Original(
        number=number, message_id=_message_id(number), sender=address, name=name,
        language=language, subject=rng.choice(subjects).format(**values),
        text=rng.choice(bodies).format(**values), written=written,
    )


def _envelope(number: int, name: str, address: str, subject: str,
              written: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{name} <{address}>"
    message["To"] = f"Klantenservice <{SUPPORT}>"
    message["Subject"] = subject
    message["Date"] = format_datetime(written)
    message["Message-ID"] = f"<{_message_id(number)}>"
    message["MIME-Version"] = "1.0"
    message["X-Mailer"] = "Bench Mail 1.0"
    return message


def _set_body(rng: random.Random, message: EmailMessage, text: str) -> bool:
    message.set_content(text)
    if rng.random() < 0.25:
        paragraphs = "".join(
            f"<p>{paragraph.replace(chr(10), '<br>')}</p>" for paragraph in text.split("\n\n")
        )
        message.add_alternative(
            f"<html><head><style>p {{margin:0}}</style></head><body>"
            f"<div style=\"font-family:Calibri\">{paragraphs}</div></body></html>",
            subtype="html",
        )
    if rng.random() < 0.10:
        filename, maintype, subtype, magic, size = rng.choice(ATTACHMENTS)
        data = magic + rng.randbytes(size - len(magic))
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return True
    return False


def _compose_original(rng: random.Random, original: Original) -> tuple[bytes, bool]:
    message = _envelope(original.number, original.name, original.sender, original.subject,
                        original.written)
    has_attachment = _set_body(rng, message, original.text)
    return message.as_bytes(), has_attachment


def _reply(rng: random.Random, number: int, original: Original, written: datetime, *,
           threaded: bool) -> tuple[bytes, bool]:
    prefix = "Re" if original.language == "en" or rng.random() < 0.5 else "Antw"
    subject = f"{prefix}: {original.subject}" if threaded else original.subject
    message = _envelope(number, original.name, original.sender, subject, written)
    if threaded:
        message["In-Reply-To"] = f"<{original.message_id}>"
        message["References"] = f"<{original.message_id}>"
    replies = NL_REPLIES if original.language == "nl" else EN_REPLIES
    order = original.subject.split()[-1]
    text = rng.choice(replies).format(order=order) + f"\n\n{original.name.split()[0]}\n\n"
    when = format_datetime(original.written)
    if original.language == "nl" and rng.random() < 0.5:
        text += (f"Van: {original.name} <{original.sender}>\nVerzonden: {when}\n"
                 f"Aan: {SUPPORT}\nOnderwerp: {original.subject}\n\n{original.text}\n")
    else:
        header = (f"Op {when} schreef {original.name} <{original.sender}>:"
                  if original.language == "nl"
                  else f"On {when}, {original.name} <{original.sender}> wrote:")
        quoted = "\n".join(f"> {line}" if line else ">" for line in original.text.splitlines())
        text += f"{header}\n{quoted}\n"
    has_attachment = _set_body(rng, message, text)
    return message.as_bytes(), has_attachment


# --- where the time goes -----------------------------------------------------------------------

#: (module, attribute, label): the steps of one ingest, timed inclusively (they nest)
PHASES = (
    ("ticketing.mail_ingest", "_store_chunk", "  store raw chunks (one commit each)"),
    ("channels.email.batch", "parse_each", "  parse (channels/email)"),
    ("ticketing.mail_ingest", "process_batch", "  process_batch"),
    ("ticketing.services.intake_cache", "IntakeCache.prefetch",
     "    read up front (IntakeCache.prefetch)"),
    ("ticketing.pipeline", "receive_contact", "    intake.receive_contact"),
    ("ticketing.services.intake", "find_or_create_customer", "      customer lookup/create"),
    ("ticketing.services.intake", "_choose_ticket", "      threading/repeat decision"),
    ("ticketing.services.intake", "_open_ticket", "      open ticket"),
    ("ticketing.services.intake", "_add_inbound_message", "      add message (+attachments)"),
    ("ticketing.services.intake", "issue_tracking_token", "      tracking token"),
    ("ticketing.services.intake", "_acknowledge", "      acknowledgement, decided"),
    ("ticketing.services.intake_cache", "IntakeCache.finish",
     "    write the batch (IntakeCache.finish)"),
    ("ticketing.services.intake", "_queue_acknowledgement", "      acknowledgements, written"),
    ("ticketing.services.tickets", "TicketChangeBatch.apply", "    each touched ticket, once"),
    ("ticketing.services.sla", "refresh_tickets_sla", "      SLA refresh"),
    ("ticketing.services.escalations", "evaluate_tickets", "      escalation rules"),
    ("ticketing.services.webhooks", "ticket_event", "      webhooks"),
    ("sqlalchemy.orm.scoping", "scoped_session.commit", "  commits (2 per chunk)"),
)


class PhaseTimer:
    """Wrap the functions in PHASES with wall and CPU timers; count SQL statements."""

    def __init__(self) -> None:
        self.wall: Counter[str] = Counter()
        self.cpu: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.statements = 0
        self._restore: list[tuple[Any, str, Any]] = []

    def install(self, engine: Any) -> None:
        import importlib

        for module_name, attribute, label in PHASES:
            owner: Any = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            setattr(owner, name, self._timed(original, label))
            self._restore.append((owner, name, original))
        sa.event.listen(engine, "before_cursor_execute", self._count)
        self._engine = engine

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        sa.event.remove(self._engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def _timed(self, function: Any, label: str) -> Any:
        import functools

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[label] += time.perf_counter() - wall
                self.cpu[label] += time.process_time() - cpu
                self.calls[label] += 1

        return timed

    def report(self, messages: int, wall_seconds: float, cpu_seconds: float) -> str:
        total = wall_seconds or 1.0
        lines = [f"{'step (inclusive; indented steps are inside the one above)':<60} "
                 f"{'calls':>6} {'wall ms/mail':>13} {'CPU ms/mail':>12} {'share':>6}",
                 f"{'ingest_many, total':<60} {1:>6} {1000 * wall_seconds / messages:>13.2f} "
                 f"{1000 * cpu_seconds / messages:>12.2f} {1:>6.0%}"]
        for _module, _attribute, label in PHASES:
            lines.append(
                f"{label:<60} {self.calls[label]:>6} {1000 * self.wall[label] / messages:>13.2f} "
                f"{1000 * self.cpu[label] / messages:>12.2f} {self.wall[label] / total:>6.0%}"
            )
        lines.append(f"SQL statements: {self.statements / messages:.1f} per mail")
        return "\n".join(lines)


# --- databases ----------------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    messages: int
    read_seconds: float
    ingest_seconds: float
    cpu_seconds: float
    #: CPU time of the helper process that parses ahead (0 when parsing ran in this process)
    parser_cpu_seconds: float
    outcomes: Counter[str]
    checks: dict[str, Any]
    load_average: tuple[float, float, float]

    @property
    def wall_rate(self) -> float:
        return self.messages / (self.read_seconds + self.ingest_seconds)

    @property
    def cpu_rate(self) -> float:
        return self.messages / self.cpu_seconds


def run_backend(backend: str, url: str, mbox_path: Path, batch: GeneratedBatch,
                workdir: Path, profile_lines: int, phases: bool) -> Run:
    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.mail_ingest import ingest_many
    from ticketing.mailsource import in_written_order, read_sources
    from ticketing.services.intake import IntakeSettings

    app = create_app(
        "production",
        SECRET_KEY="bench-email-ingest",
        SQLALCHEMY_DATABASE_URI=url,
        ATTACHMENT_STORAGE_PATH=str(workdir / f"attachments-{backend}"),
        HUEY_IMMEDIATE=True,
        SMTP_HOST=None,
    )
    outcomes: Counter[str] = Counter()
    with app.app_context():
        db.create_all()
        settings = IntakeSettings.from_config(app.config)
        profiler = cProfile.Profile() if profile_lines else None
        timer = PhaseTimer() if phases else None
        if timer:
            timer.install(db.engine)
        cpu_start = time.process_time()
        children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        messages = in_written_order(read_sources([str(mbox_path)]))
        read_done = time.perf_counter()
        if profiler:
            profiler.enable()
        # As `flask email ingest` does it; with --phases or --profile the parser runs in this
        # process, so that its time is attributed.
        serial = bool(timer or profiler)
        for _message, outcome in ingest_many(app, messages, settings=settings,
                                             parallel=False if serial else None):
            outcomes[outcome.outcome] += 1
        if profiler:
            profiler.disable()
        finished = time.perf_counter()
        cpu_seconds = time.process_time() - cpu_start
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        parser_cpu = (children.ru_utime + children.ru_stime) - (
            children_start.ru_utime + children_start.ru_stime
        )
        if timer:
            timer.uninstall()
            report = timer.report(len(messages), finished - read_done, cpu_seconds)
            print(f"{backend}, where the time goes:\n{report}")
        checks = check_threads(db, batch)
        db.session.remove()
        db.engine.dispose()
    if profiler:
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats(PROFILE_SORT).print_stats(profile_lines)
        print(report.getvalue())
    return Run(backend, len(messages), read_done - started, finished - read_done, cpu_seconds,
               parser_cpu, outcomes, checks, os.getloadavg())


def check_threads(db: Any, batch: GeneratedBatch) -> dict[str, Any]:
    """Every threaded reply on its original's ticket; nothing quarantined; counts."""
    from ticketing.models import InboundRecord, Message, Ticket

    rows = db.session.execute(
        sa.select(Message.rfc_message_id, Message.ticket_id).where(Message.direction == "in")
    )
    ticket_of = dict(rows.all())
    misthreaded = sum(
        1 for reply, original in batch.reply_to.items()
        if ticket_of.get(reply) is None or ticket_of.get(reply) != ticket_of.get(original)
    )
    quarantined = db.session.scalar(
        sa.select(sa.func.count(InboundRecord.id)).where(InboundRecord.status == "quarantined")
    )
    return {
        "tickets": db.session.scalar(sa.select(sa.func.count(Ticket.id))),
        "inbound_messages": len(ticket_of),
        "raw_records": db.session.scalar(sa.select(sa.func.count(InboundRecord.id))),
        "threaded_replies_off_their_ticket": misthreaded,
        "quarantined": quarantined,
    }


def describe(run: Run) -> str:
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(run.outcomes.items()))
    load = ", ".join(f"{value:.1f}" for value in run.load_average)
    return (
        f"{run.backend}: {run.messages} mails in {run.read_seconds + run.ingest_seconds:.1f} s "
        f"(read+sort {run.read_seconds:.2f} s) = {run.wall_rate:.0f} messages/s wall clock, "
        f"{run.cpu_rate:.0f} messages/s by this process's CPU time ({run.cpu_seconds:.1f} s; "
        f"the parsing process used {run.parser_cpu_seconds:.1f} s more)\n"
        f"  outcomes: {outcomes}\n  checks: {run.checks}\n  load average after: {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--profile", type=int, default=0, metavar="LINES",
                        help="profile the ingest loop with cProfile and print the top LINES")
    parser.add_argument("--phases", action="store_true",
                        help="time each step of intake (wall and CPU per mail, SQL statements)")
    options = parser.parse_args()
    if not 1 <= options.messages <= MAX_MAILS:
        raise SystemExit(f"--messages must be between 1 and {MAX_MAILS}")

    batch = generate_mails(options.messages, options.seed)
    print(f"generated {len(batch.mails)} mails: {batch.originals} new, {batch.replies} replies "
          f"({batch.threaded_replies} with In-Reply-To), {batch.with_attachments} with an "
          f"attachment; {sum(map(len, batch.mails)) / 1e6:.1f} MB")
    workdir = Path(tempfile.mkdtemp(prefix="bench-email-"))
    try:
        mbox_path = workdir / "batch.mbox"
        box = mailbox.mbox(str(mbox_path), create=True)
        for raw in batch.mails:
            box.add(raw)
        box.close()
        backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{workdir / 'bench.db'}"
            else:
                recreate_database(BENCH_URL)
                url = BENCH_URL
            run = run_backend(backend, url, mbox_path, batch, workdir, options.profile,
                              options.phases)
            print(describe(run))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
