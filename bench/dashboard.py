"""Supervisor dashboard latency on PostgreSQL with 1,000,000 tickets and 3,000,000 SLA clocks.

Usage (from the repository root):

    .venv/bin/python bench/dashboard.py generate   # builds the bench_dashboard database (minutes)
    .venv/bin/python bench/dashboard.py indexes    # creates indexes the models gained since
    .venv/bin/python bench/dashboard.py measure    # ~30 runs per scenario, prints p50/p95/max
    .venv/bin/python bench/dashboard.py all        # generate, then measure

The database is BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench_dashboard);
`generate` drops and recreates it. Every table is filled set-based (INSERT ... SELECT over
generate_series), deterministically (values derive from the row number, no random()), and the
models' secondary indexes are built after the load.

Shape of the data (a complaint desk after two years, ~1,370 tickets a day):
- 10 teams, 200 agents and 5 supervisors, 3 SLA policies, 5 escalation rules, 400,000 customers;
- 1,000,000 tickets, one every 63 s up to the bench instant; of the last 30,000 about 60% are
  still open, older ones 0.2% (stragglers): about 20,000 open tickets;
- three clocks per ticket (first response, next response, resolution: 3,000,000 rows). Stopped
  clocks used 0-115% of their target (13% breached); running clocks have deadlines from 11 hours
  ago to 2 days ahead, so some are at risk and some overdue; pending tickets pause resolution;
- a review for every 7th breached clock, an escalation firing per first-response breach,
  "ticket.created" for every ticket, "ticket.reopened" for every 50th, "repeat.detected" for
  every repeat contact, and a customer message with again-cues for every 24th ticket.

Service time is measured around `reports.build_dashboard` (every figure, both trends) in an app
context; page time around the Flask test client GET (routing, access check, the queries and the
template), logged in as a supervisor. p95 is nearest-rank over the runs after a warm-up.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import recreate_database, timed_step  # noqa: E402

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_dashboard"
)
#: the instant the generated data ends at (the bench's "now"): Monday 23 November 2026, 11:00
BENCH_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TIMEZONE = "Europe/Amsterdam"
TICKETS = 1_000_000
CUSTOMERS = 400_000
AGENTS = 200
SUPERVISORS = 5
TEAMS = 10
RULES = 5
#: seconds between two tickets: 1,000,000 tickets x 63 s is about two years
SPACING = 63
BENCH_PASSWORD = "bench password 1234"


_CUSTOMERS_SQL = """
INSERT INTO customers (id, name, language, created_at)
SELECT g, 'Klant ' || g, CASE WHEN g % 4 = 0 THEN 'en' ELSE 'nl' END,
       :now - make_interval(days => 730 - g % 730)
FROM generate_series(1, :customers) g
"""

# Ticket g opens (TICKETS - g) x SPACING seconds before now. Solved tickets were solved 1-96
# hours after opening (never after now).
_TICKETS_SQL = """
INSERT INTO tickets (id, customer_id, subject, status, priority, channel, team_id, assignee_id,
                     policy_id, language, opened_at, updated_at, solved_at, closed_at,
                     has_breached, contact_count, repeat_contacts, again_mentions,
                     escalation_level, repeat_of_id)
SELECT t.id, t.customer_id, t.subject, t.status, t.priority, t.channel, t.team_id,
       t.assignee_id, t.policy_id, 'nl', t.opened_at, t.opened_at,
       CASE WHEN t.status IN ('solved', 'closed') THEN t.solved_at END,
       CASE WHEN t.status = 'closed' THEN t.solved_at END,
       false, t.contacts, t.repeats, CASE WHEN t.id % 24 = 0 THEN 1 ELSE 0 END, 0,
       CASE WHEN t.repeats > 0 AND t.id > 5000 THEN t.id - 4999 END
FROM (
    SELECT g AS id,
           1 + (g::bigint * 7919) % :customers AS customer_id,
           (ARRAY['Bestelling niet aangekomen', 'Factuur klopt niet', 'Storing internet',
                  'Monteur niet gekomen', 'Verkeerde levering', 'Refund still missing',
                  'Account locked', 'Re: Factuur klopt niet'])[1 + g % 8] AS subject,
           CASE WHEN (g > :tickets - 30000 AND g % 10 < 6) OR g % 500 = 0
                THEN (ARRAY['new', 'open', 'open', 'pending', 'on_hold'])[1 + g % 5]
                WHEN g % 3 = 0 THEN 'closed' ELSE 'solved' END AS status,
           (ARRAY['normal', 'normal', 'high', 'low', 'urgent', 'normal', 'normal'])[1 + g % 7]
               AS priority,
           (ARRAY['email', 'email', 'email', 'sms', 'sms', 'web'])[1 + g % 6] AS channel,
           1 + g % :teams AS team_id,
           CASE WHEN g % 10 < 8 THEN :supervisors + 1 + (g::bigint * 31) % :agents END
               AS assignee_id,
           1 + g % 3 AS policy_id,
           :now - make_interval(secs => (:tickets - g)::double precision * :spacing)
               AS opened_at,
           least(:now - make_interval(secs => (:tickets - g)::double precision * :spacing)
                 + make_interval(hours => 1 + ((g::bigint * 37) % 96)::int),
                 :now - interval '1 minute') AS solved_at,
           1 + g % 4 AS contacts,
           CASE WHEN g % 12 = 0 THEN 1 + g % 3 ELSE 0 END AS repeats
    FROM generate_series(1, :tickets) g
) t
"""

# Clock id = (ticket - 1) x 3 + metric number. A stopped clock used `share` per mille of its
# target x 1.15 (breached above 1000 per mille); wall time is business time x 1.5. A running
# clock's deadline lies between 11 hours ago and 2 days ahead of now.
_CLOCKS_SQL = """
WITH base AS (
    SELECT (t.id - 1) * 3 + m.n AS id, t.id AS ticket_id, m.metric, t.priority, t.policy_id,
           t.status, t.solved_at,
           CASE WHEN m.metric = 'next_response' THEN t.opened_at + interval '2 hours'
                ELSE t.opened_at END AS started_at,
           (m.base * CASE t.priority WHEN 'urgent' THEN 0.25 WHEN 'high' THEN 0.5
                                     WHEN 'low' THEN 2 ELSE 1 END)::int AS target,
           ((t.id::bigint * m.prime) % 1000)::int AS share,
           t.status IN ('solved', 'closed') OR (m.metric = 'first_response' AND t.id % 3 <> 0)
               AS stopped,
           t.status = 'pending' AND m.metric = 'resolution' AS paused,
           :now + make_interval(secs => ((t.id::bigint * m.prime) % 212400 - 39600)::float8)
               AS running_due
    FROM tickets t
    CROSS JOIN (VALUES (1, 'first_response', 14400, 7919), (2, 'next_response', 28800, 6841),
                       (3, 'resolution', 172800, 4253)) AS m(n, metric, base, prime)
), used AS (
    SELECT base.*, (base.target::bigint * base.share * 115 / 100000)::int AS used FROM base
), c AS (
    SELECT used.*,
           CASE WHEN used.metric = 'resolution' AND used.status IN ('solved', 'closed')
                THEN used.solved_at
                ELSE least(used.started_at + make_interval(secs => used.used * 1.5), :now)
           END AS stop_at,
           used.running_due - make_interval(secs => used.target * 0.25) AS running_warn
    FROM used
)
INSERT INTO sla_clocks (id, ticket_id, metric, cycle, state, priority, policy_id, started_at,
                        due_at, warn_at, stopped_at, breached_at, elapsed_seconds,
                        paused_seconds, target_seconds, segments, is_running, computed_at)
SELECT c.id, c.ticket_id, c.metric, 1,
       CASE WHEN c.stopped THEN CASE WHEN c.used > c.target THEN 'breached' ELSE 'met' END
            WHEN c.paused THEN 'paused'
            WHEN c.running_due <= :now THEN 'breached'
            WHEN c.running_warn <= :now THEN 'at_risk'
            ELSE 'running' END,
       c.priority, c.policy_id, c.started_at,
       CASE WHEN c.stopped THEN c.stop_at + make_interval(secs => (c.target - c.used) * 1.5)
            WHEN NOT c.paused THEN c.running_due END,
       CASE WHEN NOT c.stopped AND NOT c.paused THEN c.running_warn END,
       CASE WHEN c.stopped THEN c.stop_at END,
       CASE WHEN c.stopped AND c.used > c.target
                THEN c.stop_at + make_interval(secs => (c.target - c.used) * 1.5)
            WHEN NOT c.stopped AND NOT c.paused AND c.running_due <= :now THEN c.running_due
       END,
       CASE WHEN c.stopped THEN c.used ELSE c.target * c.share / 1000 END,
       0, c.target,
       CASE WHEN c.stopped
            THEN json_build_array(
                json_build_object('kind', 'start', 'at', c.started_at, 'detail', NULL),
                json_build_object('kind', 'stop', 'at', c.stop_at, 'detail',
                                  CASE WHEN c.metric = 'resolution' THEN 'solved'
                                       ELSE 'agent_reply' END))
            ELSE json_build_array(
                json_build_object('kind', 'start', 'at', c.started_at, 'detail', NULL)) END,
       NOT c.stopped AND NOT c.paused, :now
FROM c
"""

_REVIEWS_SQL = """
INSERT INTO breach_reviews (id, clock_id, decision, reason, note, reviewer_id, reviewed_at)
SELECT row_number() OVER (ORDER BY id), id,
       (ARRAY['acknowledged', 'excused', 'annotated'])[1 + id % 3],
       CASE WHEN id % 3 = 1 THEN 'Storing bij de vervoerder' ELSE '' END,
       CASE WHEN id % 3 = 2 THEN 'Besproken in teamoverleg' END,
       1 + id % :supervisors, least(breached_at + interval '1 day', :now)
FROM sla_clocks WHERE state = 'breached' AND id % 7 = 0
"""

_FIRINGS_SQL = """
INSERT INTO escalation_firings (id, rule_id, ticket_id, episode, fired_at, trigger, reason,
                                outcome)
SELECT row_number() OVER (ORDER BY id), 1 + ticket_id % :rules, ticket_id, 1, breached_at,
       'sweep', 'first response breached', '[]'
FROM sla_clocks WHERE metric = 'first_response' AND state = 'breached'
"""

_EVENTS_SQL = """
INSERT INTO ticket_events (id, ticket_id, at, type, data)
SELECT row_number() OVER (), ticket_id, at, type, data
FROM (
    SELECT id AS ticket_id, opened_at AS at, 'ticket.created' AS type,
           json_build_object('channel', channel) AS data
    FROM tickets
    UNION ALL
    SELECT id, opened_at + interval '1 day', 'ticket.reopened', '{}'::json
    FROM tickets WHERE id % 50 = 0
    UNION ALL
    SELECT t.id, t.opened_at + make_interval(hours => n), 'repeat.detected',
           json_build_object('channel', (ARRAY['email', 'sms', 'web'])[1 + (t.id + n) % 3],
                             'reason', 'same customer within 30 days')
    FROM tickets t CROSS JOIN LATERAL generate_series(1, t.repeat_contacts) n
    WHERE t.repeat_contacts > 0
) e
"""

_MESSAGES_SQL = """
INSERT INTO messages (id, ticket_id, direction, channel, kind, external_id, text, new_text,
                      again_cues, is_automatic, created_at, meta)
SELECT row_number() OVER (ORDER BY id), id, 'in', channel, 'message', 'bench-' || id,
       'Ik heb alweer geen antwoord, het probleem is nog steeds niet opgelost.',
       'Ik heb alweer geen antwoord, het probleem is nog steeds niet opgelost.',
       '[{"start": 7, "end": 13, "match": "alweer", "kind": "again"},
         {"start": 47, "end": 57, "match": "nog steeds", "kind": "still"}]'::json,
       false, opened_at + interval '3 hours',
       CASE WHEN channel = 'web' THEN '{"category": "delivery"}' ELSE '{}' END::json
FROM tickets WHERE again_mentions > 0
"""


def _small_tables(connection: sa.Connection, password_hash: str) -> None:
    """Teams, users, policies and rules through Core inserts, so column defaults apply."""
    from ticketing.models import EscalationRule, SlaPolicy, Team, User

    now = BENCH_NOW
    calendar = {
        "timezone": TIMEZONE,
        "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    }
    targets = {
        priority: {"first_response": 240 * factor, "next_response": 480 * factor,
                   "resolution": 2880 * factor}
        for priority, factor in (("urgent", 0.25), ("high", 0.5), ("normal", 1), ("low", 2))
    }
    rows = {
        Team: [{"id": n, "name": f"Team {n}", "created_at": now} for n in range(1, TEAMS + 1)],
        User: [
            {"id": n, "email": f"{'supervisor' if n <= SUPERVISORS else 'agent'}{n}@bench.example",
             "name": f"{'Supervisor' if n <= SUPERVISORS else 'Agent'} {n}",
             "password_hash": password_hash,
             "role": "supervisor" if n <= SUPERVISORS else "agent",
             "team_id": 1 + n % TEAMS, "created_at": now}
            for n in range(1, SUPERVISORS + AGENTS + 1)
        ],
        SlaPolicy: [
            {"id": n, "name": name, "position": n, "calendar": calendar, "targets": targets,
             "created_at": now, "updated_at": now}
            for n, name in enumerate(("Standard", "Business", "Priority"), start=1)
        ],
        EscalationRule: [
            {"id": n, "name": name, "position": n, "created_at": now, "updated_at": now}
            for n, name in enumerate(("Notify team lead on breach", "Urgent at risk",
                                      "Third contact", "VIP customer waiting",
                                      "Resolution overdue")[:RULES], start=1)
        ],
    }
    for model, values in rows.items():
        connection.execute(sa.insert(model), values)
        print(f"  {model.__tablename__:<28} {len(values):>10} rows", flush=True)


def generate() -> None:
    """Create the schema from the models and fill it set-based."""
    from werkzeug.security import generate_password_hash

    import ticketing.models  # noqa: F401 - registers every table on the metadata
    from ticketing.db import db

    print(f"generating into {BENCH_URL}", flush=True)
    recreate_database(BENCH_URL)
    engine = sa.create_engine(BENCH_URL)
    db.metadata.create_all(engine)
    secondary = [index for table in db.metadata.sorted_tables for index in table.indexes]
    common = {"now": BENCH_NOW, "teams": TEAMS, "agents": AGENTS, "supervisors": SUPERVISORS,
              "rules": RULES, "customers": CUSTOMERS, "tickets": TICKETS, "spacing": SPACING}
    total = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        connection.exec_driver_sql("SET work_mem = '128MB'")
        connection.exec_driver_sql("SET synchronous_commit = off")
        # No per-row foreign-key triggers during the load: the generator builds consistent ids.
        connection.exec_driver_sql("SET session_replication_role = replica")
        # Secondary indexes come after the load: far cheaper than maintaining them per row.
        for index in secondary:
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')

        def step(label: str, sql: str, **extra: object) -> None:
            params = {**common, **extra}
            names = {name for name in params if f":{name}" in sql}
            timed_step(connection, label, sql, **{name: params[name] for name in names})

        _small_tables(connection, generate_password_hash(BENCH_PASSWORD, method="scrypt"))
        step("customers", _CUSTOMERS_SQL)
        step("tickets", _TICKETS_SQL)
        step("sla clocks", _CLOCKS_SQL)
        step("tickets.has_breached", """
            UPDATE tickets SET has_breached = true
            WHERE id IN (SELECT ticket_id FROM sla_clocks WHERE state = 'breached')
        """)
        step("breach reviews", _REVIEWS_SQL)
        step("escalation firings", _FIRINGS_SQL)
        step("ticket events", _EVENTS_SQL)
        step("messages with cues", _MESSAGES_SQL)
        for table in ("teams", "users", "sla_policies", "escalation_rules", "customers",
                      "tickets", "sla_clocks", "breach_reviews", "escalation_firings",
                      "ticket_events", "messages"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    build_indexes(engine)
    print(f"generated in {time.perf_counter() - total:.0f} s", flush=True)
    engine.dispose()


def build_indexes(engine: sa.Engine | None = None) -> None:
    """Create every index the models declare that the database lacks, then VACUUM ANALYZE."""
    import ticketing.models  # noqa: F401
    from ticketing.db import db

    own_engine = engine is None
    engine = engine or sa.create_engine(BENCH_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for table in db.metadata.sorted_tables:
            for index in table.indexes:
                started = time.perf_counter()
                index.create(connection, checkfirst=True)
                print(f"  index {index.name:<40} {time.perf_counter() - started:6.1f} s",
                      flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        started = time.perf_counter()
        connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"  vacuum analyze {time.perf_counter() - started:.0f} s", flush=True)
    if own_engine:
        engine.dispose()


def nearest_rank(samples: list[float], fraction: float) -> float:
    """The value at rank ceil(fraction x n) of the sorted samples."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def _timed(samples: int, warmup: int, run: Callable[[int], object]) -> tuple[float, float, float]:
    for i in range(warmup):
        run(i)
    times = []
    for i in range(samples):
        started = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), nearest_rank(times, 0.95), max(times)


def measure(runs: int = 30) -> dict[str, tuple[float, float, float]]:
    """Time the dashboard service and the supervisor pages; return ms (p50, p95, max)."""
    from datetime import date

    from ticketing.app import create_app
    from ticketing.extensions import db
    from ticketing.services import reports
    from ticketing.services.reports import ReportFilter

    app = create_app(
        "production",
        SECRET_KEY="bench-secret",
        SQLALCHEMY_DATABASE_URI=BENCH_URL,
        HUEY_IMMEDIATE=True,
        WTF_CSRF_ENABLED=False,
        RATELIMIT_ENABLED=False,
        SESSION_COOKIE_SECURE=False,
        REMEMBER_COOKIE_SECURE=False,
    )
    first, last = reports.default_period(BENCH_NOW, TIMEZONE)
    week = ReportFilter(*reports.period_for_dates(first, last, TIMEZONE))
    month = ReportFilter(*reports.period_for_dates(date(2026, 10, 25), last, TIMEZONE),
                         channel="sms", priority="high")
    team = ReportFilter(week.start, week.end, team_id=3)
    agent = ReportFilter(week.start, week.end, assignee_id=SUPERVISORS + 17)

    results: dict[str, tuple[float, float, float]] = {}
    # Other work on the machine shows in the figures; print the load so readers can judge them.
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)

    def report(label: str, figures: tuple[float, float, float]) -> None:
        results[label] = figures
        p50, p95, worst = figures
        print(f"{label:<52} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {worst:7.1f} ms",
              flush=True)

    with app.app_context():
        def dashboard(report_filter: ReportFilter) -> Callable[[int], object]:
            def run(_i: int) -> object:
                db.session.remove()
                return reports.build_dashboard(report_filter, now=BENCH_NOW, timezone=TIMEZONE)
            return run

        report("service: dashboard, last 7 days", _timed(runs, 3, dashboard(week)))
        report("service: dashboard, last 7 days, one team", _timed(runs, 3, dashboard(team)))
        report("service: dashboard, last 7 days, one agent", _timed(runs, 3, dashboard(agent)))
        report("service: dashboard, 30 days, sms + high", _timed(runs, 3, dashboard(month)))
        parts: dict[str, Callable[[], object]] = {
            "hit_rates": lambda: reports.hit_rates(week),
            "breach_counts": lambda: reports.breach_counts(week),
            "response_times": lambda: reports.response_times(week),
            "backlog_by_age": lambda: reports.backlog_by_age(week, now=BENCH_NOW),
            "at_risk_now": lambda: reports.at_risk_now(week, now=BENCH_NOW),
            "repeat_summary": lambda: reports.repeat_summary(week),
            "first_contact_resolution": lambda: reports.first_contact_resolution(week),
            "escalation_counts": lambda: reports.escalation_counts(week),
            "trends (daily and weekly)": lambda: reports.trends(week, timezone=TIMEZONE),
        }
        for name, part in parts.items():
            report(f"  part: {name}", _timed(max(runs // 3, 5), 1, lambda _i, part=part: part()))
        db.session.remove()

    import ticketing.web.supervisor as supervisor_views

    real_now = supervisor_views.utcnow
    supervisor_views.utcnow = lambda: BENCH_NOW  # the data ends at the bench instant
    try:
        client = app.test_client()
        response = client.post("/login", data={"email": "supervisor1@bench.example",
                                                "password": BENCH_PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"login failed: HTTP {response.status_code}")

        def page(url: str) -> Callable[[int], object]:
            def run(_i: int) -> object:
                result = client.get(url)
                body = result.get_data()
                if result.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {result.status_code}")
                return body
            return run

        report("page: GET /supervisor/ (last 7 days)", _timed(runs, 3, page("/supervisor/")))
        report("page: GET /supervisor/?team=3",
               _timed(runs, 3, page("/supervisor/?team=3")))
        report("page: GET /supervisor/breaches (first 25)",
               _timed(runs, 3, page("/supervisor/breaches")))
        report("page: GET /supervisor/repeats", _timed(runs, 3, page("/supervisor/repeats")))
        report("export: breaches.csv, 7 days (streamed)",
               _timed(max(runs // 3, 5), 1, page("/supervisor/export/breaches.csv")))
    finally:
        supervisor_views.utcnow = real_now
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["generate", "indexes", "measure", "all"])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if args.command in ("generate", "all"):
        generate()
    if args.command == "indexes":
        build_indexes()
    if args.command in ("measure", "all"):
        measure(args.runs)


if __name__ == "__main__":
    main()
