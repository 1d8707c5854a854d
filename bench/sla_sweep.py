"""Benchmark the per-minute SLA sweep: N open tickets, K newly due, on SQLite and PostgreSQL.

Usage:
    .venv/bin/python bench/sla_sweep.py --db postgresql --tickets 1000000 --due 10000
    .venv/bin/python bench/sla_sweep.py --db sqlite --tickets 1000000 --due 10000

The generator writes tickets and one running first-response clock each with set-based SQL
(generate_series on PostgreSQL, a recursive CTE on SQLite); K clocks fall due between the previous
sweep and now, and as many again cross their warning instant. The benchmark then runs one sweep
(`ticketing.services.sla.sweep_clocks` plus the commit, as the worker does) and reports its wall
time, peak Python memory (tracemalloc) and the process's peak RSS growth.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import recreate_database  # noqa: E402
from ticketing.app import create_app  # noqa: E402
from ticketing.extensions import db  # noqa: E402
from ticketing.models import SweepState, TicketEvent  # noqa: E402
from ticketing.services.sla import sweep_clocks  # noqa: E402

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LAST_SWEEP = NOW - timedelta(minutes=1)


def database_url(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='bench-sla-')}/bench.db"
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_sla"
    recreate_database(url)
    return url


def generate(kind: str, tickets: int, due: int) -> None:
    """Fill the tables set-based; returns when the data is committed and analysed."""
    connection = db.session.connection()
    connection.execute(sa.text("INSERT INTO customers (id, name, created_at) "
                               "VALUES (1, 'bench', :now)"), {"now": _stamp(kind, NOW)})
    if kind == "postgresql":
        series = "SELECT g AS n FROM generate_series(1, :count) AS g"
        due_expr = ("CASE WHEN n <= :due THEN :last + (n * interval '5 milliseconds') "
                    "ELSE :now + ((n % 100000) * interval '1 minute') + interval '1 hour' END")
        warn_expr = ("CASE WHEN n > :due AND n <= 2 * :due THEN :last + interval '30 seconds' "
                     "ELSE :now + interval '30 minutes' END")
    else:
        series = ("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
                  "WHERE n < :count) SELECT n FROM s")
        due_expr = ("CASE WHEN n <= :due THEN strftime('%Y-%m-%d %H:%M:%f', :last, "
                    "'+' || (n * 0.005) || ' seconds') ELSE strftime('%Y-%m-%d %H:%M:%f', :now, "
                    "'+' || ((n % 100000) + 60) || ' minutes') END")
        warn_expr = ("CASE WHEN n > :due AND n <= 2 * :due THEN strftime('%Y-%m-%d %H:%M:%f', "
                     ":last, '+30 seconds') ELSE strftime('%Y-%m-%d %H:%M:%f', :now, "
                     "'+30 minutes') END")
    params = {"count": tickets, "due": due, "now": _stamp(kind, NOW),
              "last": _stamp(kind, LAST_SWEEP)}
    connection.execute(sa.text(
        "INSERT INTO tickets (id, customer_id, subject, status, priority, channel, opened_at, "
        "updated_at, contact_count, repeat_contacts, again_mentions, escalation_level, "
        f"has_breached) SELECT n, 1, 'bench', 'open', 'normal', 'email', :now, :now, 1, 0, 0, 0, "
        f"false FROM ({series}) AS numbers"), params)
    connection.execute(sa.text(
        "INSERT INTO sla_clocks (ticket_id, metric, cycle, state, priority, started_at, due_at, "
        "warn_at, elapsed_seconds, paused_seconds, target_seconds, segments, is_running, "
        f"computed_at) SELECT n, 'first_response', 1, 'running', 'normal', :now, {due_expr}, "
        f"{warn_expr}, 0, 0, 14400, '[]', true, :now FROM ({series}) AS numbers"), params)
    db.session.add(SweepState(name="sla", last_swept_at=LAST_SWEEP))
    db.session.commit()
    with db.engine.connect() as analyse:
        analyse.exec_driver_sql("ANALYZE")
        analyse.commit()


def _stamp(kind: str, instant: datetime) -> object:
    # SQLite stores naive UTC text (see UTCDateTime); PostgreSQL takes the aware instant.
    if kind == "sqlite":
        return instant.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return instant


def _print_statement_times() -> None:
    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        conn.info["started"] = time.perf_counter()

    @sa.event.listens_for(db.engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        took = (time.perf_counter() - conn.info["started"]) * 1000
        print(f"  {took:8.1f} ms  {' '.join(statement.split())[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="Print each statement's time.")
    args = parser.parse_args()

    app = create_app("test", SQLALCHEMY_DATABASE_URI=database_url(args.db),
                     ATTACHMENT_STORAGE_PATH=tempfile.mkdtemp())
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        generate(args.db, args.tickets, args.due)
        print(f"generated {args.tickets:,} tickets in {time.perf_counter() - started:.1f} s")
        db.session.remove()

        if args.profile:
            _print_statement_times()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.perf_counter()
        summary = sweep_clocks(now=NOW)
        db.session.commit()
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        events = db.session.scalar(sa.select(sa.func.count(TicketEvent.id)))
        again = time.perf_counter()
        second = sweep_clocks(now=NOW + timedelta(minutes=1))
        db.session.commit()
        second_elapsed = time.perf_counter() - again
        print(f"{args.db}: tickets={args.tickets:,} newly due={args.due:,}")
        print(f"  sweep: {elapsed:.3f} s, breached events {summary['sla.breached']:,}, "
              f"at-risk events {summary['sla.at_risk']:,}, clocks moved "
              f"{summary['clocks_breached']:,}+{summary['clocks_at_risk']:,}")
        print(f"  events in table: {events:,}")
        print(f"  peak Python memory during sweep: {peak / 1e6:.1f} MB; "
              f"peak RSS growth: {rss_growth / 1024:.1f} MB")
        print(f"  next sweep (nothing new): {second_elapsed * 1000:.1f} ms, "
              f"breached {second['sla.breached']}")
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
