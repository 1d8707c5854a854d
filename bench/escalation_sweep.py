"""Escalation sweep and per-event evaluation cost with 200,000 open tickets.

Usage (from the repository root):

    .venv/bin/python bench/escalation_sweep.py sqlite        # a file in a temporary folder
    .venv/bin/python bench/escalation_sweep.py postgresql    # BENCH_DATABASE_URL, recreated

Shape: 200,000 open tickets whose earliest deadlines are spread evenly over two weeks around
the bench instant (half already breached), each with a running resolution clock (warning one
hour before its deadline), the four default rules, one supervisor. The rules' sweep cursors
start at the bench instant, as after a long-running installation: each simulated minute then
brings about 14 crossings per time anchor, and those tickets fire, notify and log.

Measured:
- the per-minute sweep (`evaluate_due` + commit) over 30 consecutive minutes: p50 / max;
- the same sweep when nothing crossed since the last one (the candidate queries alone);
- for contrast, reading the ids of every open ticket within 30 minutes of (or past) its
  deadline, which is what a sweep without the per-rule lower bound would load each minute;
- `evaluate_ticket` after an event that changes nothing (the cost every intake, reply and
  status change pays): p50 / p95 over 300 tickets.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import recreate_database  # noqa: E402

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_escalation"
)
BENCH_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TICKETS = 200_000
SPREAD = timedelta(days=14)
MINUTES = 30


def database_url(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='bench_escalation_')}/bench.db"
    recreate_database(BENCH_URL)
    return BENCH_URL


def load(db) -> None:  # noqa: ANN001 - the Flask-SQLAlchemy extension
    from ticketing.models import Customer, Role, SlaClock, Ticket, User

    db.session.add(Customer(id=1, name="Bench customer", created_at=BENCH_NOW))
    db.session.add(User(email="supervisor@example.org", name="Supervisor", password_hash="x",
                        role=Role.supervisor, created_at=BENCH_NOW))
    db.session.flush()
    start = BENCH_NOW - SPREAD / 2
    step = SPREAD / TICKETS
    chunk = 10_000
    for first in range(1, TICKETS + 1, chunk):
        tickets, clocks = [], []
        for number in range(first, min(first + chunk, TICKETS + 1)):
            due = start + step * number
            breached = due < BENCH_NOW
            tickets.append({
                "id": number, "customer_id": 1, "status": "open", "priority": "normal",
                "channel": "email", "subject": f"Complaint {number}",
                "opened_at": due - timedelta(days=2), "updated_at": due - timedelta(days=2),
                "last_customer_message_at": due - timedelta(days=2), "next_due_at": due,
                "sla_state": "breached" if breached else "running",
                "contact_count": 1, "repeat_contacts": 0, "again_mentions": 0,
                "escalation_level": 0, "has_breached": breached,
            })
            clocks.append({
                "ticket_id": number, "metric": "resolution", "cycle": 1,
                "state": "breached" if breached else "running", "priority": "normal",
                "started_at": due - timedelta(days=2), "due_at": due,
                "warn_at": due - timedelta(hours=1), "breached_at": due if breached else None,
                "is_running": True, "elapsed_seconds": 0, "paused_seconds": 0,
                "target_seconds": 172_800, "segments": [], "computed_at": BENCH_NOW,
            })
        db.session.execute(sa.insert(Ticket), tickets)
        db.session.execute(sa.insert(SlaClock), clocks)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def main(kind: str) -> None:
    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.models import OPEN_STATUSES, EscalationRule, Ticket
    from ticketing.services import escalations

    app = create_app("test", SQLALCHEMY_DATABASE_URI=database_url(kind))
    with app.app_context():
        db.create_all()
        began = time.perf_counter()
        load(db)
        print(f"{kind}: loaded {TICKETS:,} tickets in {time.perf_counter() - began:.1f} s")
        escalations.seed_default_rules(BENCH_NOW - timedelta(days=30))
        db.session.execute(sa.update(EscalationRule).values(swept_to=BENCH_NOW,
                                                            swept_after_ticket_id=0))
        db.session.commit()

        sweeps, cpu, fired = [], [], 0
        for minute in range(1, MINUTES + 1):
            began, began_cpu = time.perf_counter(), time.process_time()
            summary = escalations.evaluate_due(BENCH_NOW + timedelta(minutes=minute), 1000)
            db.session.commit()
            sweeps.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
            fired += summary["fired"]
        print(f"{kind}: sweep per minute p50 {statistics.median(sweeps) * 1000:.1f} ms, "
              f"max {max(sweeps) * 1000:.1f} ms (this process's CPU p50 "
              f"{statistics.median(cpu) * 1000:.1f} ms), {fired / MINUTES:.1f} firings per minute")
        print(f"{kind}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        idle = []
        for _repeat in range(MINUTES):
            began = time.perf_counter()
            escalations.evaluate_due(BENCH_NOW + timedelta(minutes=MINUTES), 1000)
            db.session.commit()
            idle.append(time.perf_counter() - began)
        print(f"{kind}: sweep with no new crossings p50 {statistics.median(idle) * 1000:.1f} ms")

        began = time.perf_counter()
        naive = db.session.execute(
            sa.select(Ticket.id).where(Ticket.status.in_(OPEN_STATUSES),
                                       Ticket.next_due_at <= BENCH_NOW + timedelta(minutes=30))
        ).all()
        print(f"{kind}: without a lower bound a sweep would read {len(naive):,} ids "
              f"({(time.perf_counter() - began) * 1000:.1f} ms before judging any)")

        times = []
        step = TICKETS // 600
        for ticket_id in range(TICKETS // 2 + step, TICKETS, step)[:300]:
            ticket = db.session.get(Ticket, ticket_id)
            began = time.perf_counter()
            escalations.evaluate_ticket(ticket, now=BENCH_NOW, trigger="note.added")
            times.append(time.perf_counter() - began)
            db.session.rollback()
        times.sort()
        p95 = times[int(len(times) * 0.95)]
        print(f"{kind}: evaluate_ticket without a transition p50 "
              f"{statistics.median(times) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms")
        db.session.remove()
        if kind == "postgresql":
            db.drop_all()
        db.engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("sqlite", "postgresql"):
        sys.exit(__doc__)
    main(sys.argv[1])
