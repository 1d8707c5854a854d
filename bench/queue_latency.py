"""Agent queue and ticket page latency on PostgreSQL with 1,000,000 tickets and 5,000,000 messages.

Usage (from the repository root):

    .venv/bin/python bench/queue_latency.py generate   # builds the bench_queue database (minutes)
    .venv/bin/python bench/queue_latency.py measure    # ~200 requests per page, prints p50/p95
    .venv/bin/python bench/queue_latency.py all        # both

The database is BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench_queue);
`generate` drops and recreates it. Rows are generated set-based (INSERT ... SELECT over
generate_series), deterministic (no random()), with secondary indexes built after the load.

Shape of the data (a mid-size complaint desk after two years):
- 10 teams, 200 agents, 400,000 customers with 600,000 identities (every customer an e-mail
  address, every other one a phone number too);
- 1,000,000 tickets over two years; the newest 100,000 are 70% still open, older ones 0.5%
  (stragglers): about 75,000 open tickets in all. Open tickets have SLA deadlines around the
  bench instant, some already breached; 5% are repeat contacts;
- 5,000,000 messages (1 to 9 per ticket, 5 on average): customer mail, SMS and web messages,
  agent replies and notes, about 300 characters each;
- one event per message plus "ticket.created" (6,000,000 events) and two SLA clocks per ticket.

Server time is measured around the Flask test client call (routing, the view, its queries and
the template), logged in as an agent, for the main queue (all open tickets, first page and a
later keyset page), "my tickets", and the ticket page of random tickets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import recreate_database, timed_step  # noqa: E402

BENCH_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_queue"
)
#: the instant the generated deadlines are arranged around (the bench's "now")
BENCH_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TICKETS = 1_000_000
CUSTOMERS = 400_000
AGENTS = 200
TEAMS = 10
BENCH_PASSWORD = "bench password 1234"


def generate() -> None:
    """Create the schema from the models and fill it set-based."""
    from werkzeug.security import generate_password_hash

    import ticketing.models  # noqa: F401 - registers every table on the metadata
    from ticketing.db import db

    print(f"generating into {BENCH_URL}", flush=True)
    recreate_database(BENCH_URL)
    engine = sa.create_engine(BENCH_URL)
    metadata = db.metadata
    metadata.create_all(engine)
    secondary = [
        index for table in metadata.sorted_tables for index in table.indexes
    ]
    password_hash = generate_password_hash(BENCH_PASSWORD, method="scrypt")
    now = BENCH_NOW
    total = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        connection.exec_driver_sql("SET work_mem = '64MB'")
        connection.exec_driver_sql("SET synchronous_commit = off")
        # Skip per-row foreign-key triggers during the load: the generator builds consistent ids.
        connection.exec_driver_sql("SET session_replication_role = replica")
        # Secondary indexes are built after the load: much faster than maintaining them per row.
        for index in secondary:
            connection.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
        timed_step(connection, "teams", """
            INSERT INTO teams (id, name, email, created_at)
            SELECT g, 'Team ' || g, NULL, :now FROM generate_series(1, :teams) g
        """, now=now, teams=TEAMS)
        timed_step(connection, "users", """
            INSERT INTO users (id, email, name, password_hash, role, team_id, phone, language,
                               is_active_account, session_version, failed_logins, created_at)
            SELECT g, 'agent' || g || '@bench.example', 'Agent ' || g, :hash,
                   CASE WHEN g <= 5 THEN 'supervisor' ELSE 'agent' END,
                   1 + g % :teams, NULL, 'en', true, 1, 0, :now
            FROM generate_series(1, :agents) g
        """, hash=password_hash, now=now, teams=TEAMS, agents=AGENTS)
        timed_step(connection, "sla policy", """
            INSERT INTO sla_policies (id, name, position, is_active, conditions, calendar, targets,
                                      pause_statuses, warn_ratio, created_at, updated_at)
            VALUES (1, 'Standard', 0, true, '{}',
                    '{"timezone": "Europe/Amsterdam", "hours": {"mon": [["09:00", "17:00"]],
                      "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]],
                      "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}}',
                    '{"normal": {"first_response": 240, "next_response": 480,
                      "resolution": 2880}}',
                    '["pending"]', 0.75, :now, :now)
        """, now=now)
        timed_step(connection, "customers", """
            INSERT INTO customers (id, name, language, created_at)
            SELECT g, 'Klant ' || g, CASE WHEN g % 4 = 0 THEN 'en' ELSE 'nl' END,
                   :now - make_interval(days => 730 - (g % 730))
            FROM generate_series(1, :customers) g
        """, now=now, customers=CUSTOMERS)
        timed_step(connection, "customer identities", """
            INSERT INTO customer_identities (id, customer_id, kind, address, display_name,
                                             opted_out_at, created_at)
            SELECT g, g, 'email', 'klant' || g || '@example.nl', 'Klant ' || g, NULL, :now
            FROM generate_series(1, :customers) g
            UNION ALL
            SELECT :customers + g, g * 2, 'phone', '+316' || lpad((10000000 + g)::text, 8, '0'),
                   NULL, CASE WHEN g % 50 = 0 THEN :now ELSE NULL END, :now
            FROM generate_series(1, :customers / 2) g
        """, now=now, customers=CUSTOMERS)
        # Ticket i opens at a time spread over two years, newest last. The newest 10% are mostly
        # open; deadlines of open tickets lie between 6 hours ago and 2 days ahead.
        timed_step(connection, "tickets", """
            INSERT INTO tickets (
                id, customer_id, subject, status, priority, channel, team_id, assignee_id,
                policy_id, language, opened_at, updated_at, last_customer_message_at,
                last_agent_reply_at, first_responded_at, solved_at, closed_at,
                first_response_due_at, next_response_due_at, resolution_due_at, next_due_at,
                next_warn_at, sla_state, has_breached, contact_count, repeat_contacts,
                again_mentions, escalation_level, repeat_of_id, merged_into_id)
            SELECT t.id, t.customer_id, t.subject, t.status, t.priority, t.channel, t.team_id,
                   t.assignee_id, 1, t.language, t.opened_at, t.opened_at + interval '2 hours',
                   t.opened_at, t.replied_at, t.replied_at,
                   CASE WHEN t.status IN ('solved', 'closed') THEN t.opened_at + interval '1 day'
                   END,
                   CASE WHEN t.status = 'closed' THEN t.opened_at + interval '5 days' END,
                   t.due, NULL, t.due + interval '2 days',
                   CASE WHEN t.status IN ('new', 'open', 'on_hold') THEN t.due END,
                   CASE WHEN t.status IN ('new', 'open', 'on_hold')
                        THEN t.due - interval '1 hour' END,
                   CASE WHEN t.status NOT IN ('new', 'open', 'on_hold') THEN NULL
                        WHEN t.due < :now THEN 'breached'
                        WHEN t.due < :now + interval '2 hours' THEN 'at_risk'
                        ELSE 'running' END,
                   t.due < :now AND t.status IN ('new', 'open', 'on_hold'),
                   1 + t.id % 9 / 3, CASE WHEN t.id % 20 = 0 THEN 1 + t.id % 3 ELSE 0 END,
                   CASE WHEN t.id % 40 = 0 THEN 1 ELSE 0 END, 0,
                   CASE WHEN t.id % 20 = 0 AND t.id > 1000 THEN t.id - 997 END, NULL
            FROM (
                SELECT g AS id,
                       1 + (g::bigint * 7919) % :customers AS customer_id,
                       (ARRAY['Bestelling niet aangekomen', 'Factuur klopt niet',
                              'Storing internet', 'Monteur niet gekomen', 'Verkeerde levering',
                              'Refund still missing', 'Account locked', 'Klacht over service'
                             ])[1 + g % 8] || ' #' || g AS subject,
                       CASE WHEN (g > :tickets * 0.9 AND g % 10 < 7) OR g % 200 = 0
                            THEN (ARRAY['new', 'open', 'open', 'open', 'pending',
                                        'on_hold'])[1 + g % 6]
                            WHEN g % 3 = 0 THEN 'closed' ELSE 'solved' END AS status,
                       (ARRAY['normal', 'normal', 'normal', 'high', 'low', 'urgent',
                              'normal'])[1 + g % 7] AS priority,
                       (ARRAY['email', 'email', 'email', 'sms', 'sms', 'web'])[1 + g % 6]
                           AS channel,
                       1 + g % :teams AS team_id,
                       CASE WHEN (g / 7) % 10 < 7 THEN 1 + (g::bigint * 31) % :agents END
                           AS assignee_id,
                       CASE WHEN g % 4 = 0 THEN 'en' ELSE 'nl' END AS language,
                       :now - make_interval(secs => (:tickets - g) * 63.0) AS opened_at,
                       CASE WHEN g % 3 <> 0 THEN :now - make_interval(secs => (:tickets - g) * 63.0)
                            + interval '3 hours' END AS replied_at,
                       :now - interval '6 hours'
                           + make_interval(secs => (g::bigint * 7907) % 194400) AS due
                FROM generate_series(1, :tickets) g
            ) t
        """, now=now, tickets=TICKETS, customers=CUSTOMERS, teams=TEAMS, agents=AGENTS)
        # 1 + (id*13 % 9) messages per ticket: 5 on average, 5,000,000 in all. The first is the
        # customer's; after that customer messages, replies and an occasional note alternate.
        timed_step(connection, "messages", """
            INSERT INTO messages (
                id, ticket_id, direction, channel, kind, external_id, rfc_message_id, author_id,
                identity_id, subject, text, new_text, html, language, again_cues, is_automatic,
                created_at, delivery_state, meta)
            SELECT row_number() OVER (), t.id,
                   CASE WHEN n = 1 OR n % 2 = 1 THEN 'in' WHEN n % 6 = 0 THEN 'note' ELSE 'out'
                   END,
                   t.channel, 'message',
                   CASE WHEN n = 1 OR n % 2 = 1 THEN 'm' || t.id || '.' || n || '@bench' END,
                   CASE WHEN t.channel = 'email' THEN 'm' || t.id || '.' || n || '@bench' END,
                   CASE WHEN n % 2 = 0 THEN t.assignee_id END,
                   CASE WHEN n % 6 <> 0 THEN t.customer_id END,
                   CASE WHEN t.channel = 'email' THEN t.subject END,
                   repeat('Goedemorgen, ik heb ' || t.subject
                          || ' en wacht nog steeds op antwoord. ', 4),
                   repeat('Goedemorgen, ik heb ' || t.subject
                          || ' en wacht nog steeds op antwoord. ', 2),
                   NULL, t.language,
                   CASE WHEN t.id % 40 = 0 AND n % 2 = 1
                        THEN '[{"start": 0, "end": 5, "match": "again", "kind": "again"}]'
                        ELSE '[]' END::json,
                   false, least(t.opened_at + make_interval(mins => ((n - 1) * 47)::int), :now),
                   CASE WHEN n % 2 = 0 AND n % 6 <> 0 THEN 'delivered' END, '{}'
            FROM tickets t
            CROSS JOIN LATERAL generate_series(1, 1 + (t.id::bigint * 13) % 9) n
        """, now=now)
        timed_step(connection, "ticket events", """
            INSERT INTO ticket_events (id, ticket_id, at, type, actor_id, message_id, data)
            SELECT row_number() OVER (), ticket_id, at, type, actor_id, message_id, data
            FROM (
                SELECT id AS ticket_id, opened_at AS at, 'ticket.created' AS type,
                       NULL::integer AS actor_id, NULL::integer AS message_id,
                       json_build_object('channel', channel) AS data
                FROM tickets
                UNION ALL
                SELECT ticket_id, created_at,
                       CASE direction WHEN 'in' THEN 'message.received'
                                      WHEN 'out' THEN 'reply.sent' ELSE 'note.added' END,
                       author_id, id, json_build_object('channel', channel)
                FROM messages
            ) e
        """)
        timed_step(connection, "sla clocks", """
            INSERT INTO sla_clocks (id, ticket_id, metric, cycle, state, priority, policy_id,
                                    started_at, due_at, warn_at, stopped_at, breached_at,
                                    elapsed_seconds, paused_seconds, target_seconds, segments,
                                    is_running, computed_at)
            SELECT row_number() OVER (), t.id, m.metric, 1,
                   CASE WHEN t.status IN ('solved', 'closed') OR m.metric = 'first_response'
                             AND t.first_responded_at IS NOT NULL THEN 'met'
                        WHEN t.status = 'pending' AND m.metric = 'resolution' THEN 'paused'
                        ELSE coalesce(t.sla_state, 'running') END,
                   t.priority, 1, t.opened_at,
                   CASE WHEN m.metric = 'first_response' THEN t.first_response_due_at
                        ELSE t.resolution_due_at END,
                   NULL,
                   CASE WHEN m.metric = 'first_response' THEN t.first_responded_at
                        ELSE t.solved_at END,
                   NULL, 3600, 0, CASE WHEN m.metric = 'first_response' THEN 14400 ELSE 172800 END,
                   json_build_array(json_build_object('kind', 'start', 'at', t.opened_at)),
                   t.status IN ('new', 'open', 'on_hold'), :now
            FROM tickets t
            CROSS JOIN (VALUES ('first_response'), ('resolution')) AS m(metric)
        """, now=now)
        for table in ("teams", "users", "customers", "customer_identities", "tickets", "messages",
                      "ticket_events", "sla_clocks", "sla_policies"):
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    build_indexes(engine)
    print(f"generated in {time.perf_counter() - total:.0f} s", flush=True)
    engine.dispose()


def build_indexes(engine: sa.Engine | None = None) -> None:
    """Create every index the models declare that the database lacks, then ANALYZE."""
    import ticketing.models  # noqa: F401
    from ticketing.db import db

    own_engine = engine is None
    engine = engine or sa.create_engine(BENCH_URL)
    with engine.begin() as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for table in db.metadata.sorted_tables:
            for index in table.indexes:
                started = time.perf_counter()
                created = index.create(connection, checkfirst=True)
                del created
                print(f"  index {index.name:<40} {time.perf_counter() - started:6.1f} s",
                      flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        started = time.perf_counter()
        connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"  vacuum analyze {time.perf_counter() - started:.0f} s", flush=True)
    if own_engine:
        engine.dispose()


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def measure(requests: int = 200) -> dict[str, tuple[float, float, float]]:
    """Time the queue and ticket pages through the test client; return ms (p50, p95, max)."""
    from ticketing import clock
    from ticketing.app import create_app

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
    # The page shows countdowns against the bench instant the data was generated around.
    clock_now = clock.utcnow
    import ticketing.web.agent as agent_views

    agent_views.utcnow = lambda: BENCH_NOW  # type: ignore[attr-defined]
    client = app.test_client()
    response = client.post(
        "/login", data={"email": "agent42@bench.example", "password": BENCH_PASSWORD}
    )
    assert response.status_code == 302, response.status_code
    first = client.get("/?queue=open")
    cursor = _next_cursor(first.get_data(as_text=True))

    cpu_samples: dict[str, list[float]] = {}

    def timed(url: str, label: str | None = None) -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if label is not None:
            cpu_samples.setdefault(label, []).append((time.process_time() - cpu_started) * 1000)
        if result.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {result.status_code}")
        return elapsed

    pages = {
        "queue: all open, first page": lambda i: "/?queue=open",
        "queue: all open, keyset page 2": lambda i: f"/?queue=open&after={cursor}",
        "queue: mine": lambda i: "/?queue=mine",
        "queue: breached": lambda i: "/?queue=breached",
        "queue: at risk": lambda i: "/?queue=at_risk",
        "queue: unassigned": lambda i: "/?queue=unassigned",
        "queue poll (JSON)": lambda i: "/queue.json?queue=open",
        "ticket page": lambda i: f"/tickets/T-{1 + (i * 104_729) % TICKETS}",
        "ticket page (open tickets)": lambda i: f"/tickets/T-{900_000 + (i * 7_919) % 100_000}",
        # Search is not part of the target; measured so its cost is known.
        "search: reference": lambda i: f"/?q=T-{1 + (i * 104_729) % TICKETS}",
        "search: e-mail address": lambda i: f"/?q=klant{1 + (i * 7_919) % CUSTOMERS}%40example.nl",
        "search: two words": lambda i: f"/?q=klopt+{1 + (i * 104_729) % TICKETS}",
    }
    results: dict[str, tuple[float, float, float]] = {}
    for label, url_for_request in pages.items():
        for i in range(10):  # warm-up: connections, template compilation, plan caches
            timed(url_for_request(i + 10_000))
        samples = [timed(url_for_request(i), label) for i in range(requests)]
        results[label] = (
            statistics.median(samples), _percentile(samples, 0.95), max(samples)
        )
        p50, p95, worst = results[label]
        cpu = cpu_samples[label]
        print(f"{label:<30} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {worst:6.1f} ms  "
              f"(Flask process CPU p50 {statistics.median(cpu):5.1f} ms, "
              f"p95 {_percentile(cpu, 0.95):5.1f} ms)", flush=True)
    agent_views.utcnow = clock_now  # type: ignore[attr-defined]
    return results


def _next_cursor(html: str) -> str:
    import re

    match = re.search(r'after=([^"&]+)', html)
    if match is None:
        raise RuntimeError("the first queue page has no next-page link")
    return match.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["generate", "indexes", "measure", "all"])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if args.command in ("generate", "all"):
        generate()
    if args.command == "indexes":
        build_indexes()
    if args.command in ("measure", "all"):
        measure(args.requests)


if __name__ == "__main__":
    main()
