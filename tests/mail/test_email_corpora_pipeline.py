"""Every real-world mail in the shared corpora through the whole ingest path, not just the parser.

Each message must end as a message on a ticket, an ignored auto-reply or bounce, a duplicate,
or a quarantined record with a reason; nothing raises and every raw input is stored as it came.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import skip_or_fail
from ticketing.extensions import db
from ticketing.mail_ingest import ingest_mail, outcome_line
from ticketing.models import InboundRecord, Message

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
#: which files of each corpus are mail (the rest are licences, notes and expectations)
MAIL_FILES = {
    "zammad": "**/*.box",
    "cpython-test-email": "data/msg_*.txt",
    "mail-parser-spamscope": "mails/*",
    "django-helpdesk": "emails/*.eml",
    "sisimai-set-of-emails": "**/*.eml",
}
#: the reason the pipeline writes when something other than the parser's refusal went wrong
CRASH_REASON = re.compile(r"^[A-Z]\w*: ")


def corpus_files() -> list[Path]:
    files = [
        path
        for corpus, pattern in MAIL_FILES.items()
        for path in sorted((CORPORA / corpus).glob(pattern))
        if path.is_file()
    ]
    return files


@pytest.mark.slow
def test_every_corpus_mail_ends_somewhere_with_its_raw_kept(app, db_session):
    if not CORPORA.is_dir():
        skip_or_fail(f"the shared corpora are missing ({CORPORA})")
    files = corpus_files()
    assert len(files) > 700, f"expected the five corpora, found {len(files)} mails"
    full_set = db_session.get_bind().dialect.name != "postgresql"
    if not full_set:
        files = files[::10]  # the full set runs on SQLite; every tenth keeps PostgreSQL fast

    problems: list[str] = []
    outcomes: dict[str, int] = {}
    for path in files:
        raw = path.read_bytes()
        source = str(path.relative_to(CORPORA))
        outcome = ingest_mail(app, raw, source=source)  # must not raise
        line = outcome_line(outcome, source)
        outcomes[line["outcome"]] = outcomes.get(line["outcome"], 0) + 1
        record = db_session.get(InboundRecord, outcome.record_id)
        if record is None or record.payload != raw:
            problems.append(f"{source}: raw input not stored as received")
            continue
        if record.sha256 != hashlib.sha256(raw).hexdigest() or record.source != source:
            problems.append(f"{source}: stored record does not describe its input")
        problems.extend(f"{source}: {issue}" for issue in _check_end_state(record, outcome))

    assert not problems, "\n".join(problems[:40])
    stored = db_session.scalar(sa.select(sa.func.count(InboundRecord.id)))
    assert stored == len(files)
    if full_set:
        # The corpora are mostly bounces; make sure the run exercised every ending.
        assert {"created", "bounce", "auto_reply", "quarantined"} <= set(outcomes), outcomes


def _check_end_state(record: InboundRecord, outcome) -> list[str]:
    status = record.status.value
    if outcome.outcome == "quarantined":
        issues = [] if status == "quarantined" else [f"quarantined but status {status}"]
        if not record.reason:
            issues.append("quarantined without a reason")
        elif CRASH_REASON.match(record.reason):
            issues.append(f"processing crashed: {record.reason[:300]}")
        return issues
    if outcome.outcome == "duplicate":
        # Corpora repeat some messages (same Message-ID): the copy points at the first one.
        if status != "duplicate" or not outcome.results or outcome.results[0].message is None:
            return [f"duplicate without the earlier message (status {status})"]
        return []
    stored_messages = db.session.scalars(
        sa.select(Message).where(Message.inbound_id == record.id)
    ).all()
    if outcome.outcome in {"created", "appended"}:
        if status != "processed":
            return [f"{outcome.outcome} but status {status}"]
        if not stored_messages or any(m.ticket_id != record.ticket_id for m in stored_messages):
            return [f"{outcome.outcome} but no message on ticket {record.ticket_id}"]
        return []
    if outcome.outcome in {"auto_reply", "bounce"}:
        if record.ticket_id is None:
            # Not about any thread we know: ignored, kept only as the raw record.
            return [] if status == "ignored" and not stored_messages else [
                f"{outcome.outcome} outside a thread but status {status}"
            ]
        if not stored_messages or stored_messages[0].ticket_id != record.ticket_id:
            return [f"{outcome.outcome} on ticket {record.ticket_id} without its message"]
        return []
    return [f"unexpected outcome {outcome.outcome}"]
