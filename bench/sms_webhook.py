"""Signed Twilio SMS webhooks over HTTP to gunicorn (2 sync workers) on PostgreSQL.

Usage (from the repository root):

    .venv/bin/python bench/sms_webhook.py                      # 3,000 webhooks, 4 at a time
    .venv/bin/python bench/sms_webhook.py --requests 5000 --concurrency 8

What happens:
1. BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench_sms) is dropped,
   created again and given the schema of the models (`db.create_all()`).
2. gunicorn starts `wsgi:app` with 2 sync workers on 127.0.0.1 (a free port), production
   settings, Redis for the task queue when it answers (REDIS_URL, default database 5), and
   PUBLIC_BASE_URL set to the server's own address so signatures check out.
3. Every webhook is prepared and signed (the SDK's RequestValidator) before the clock starts.
   The mix: 75% first texts from new numbers (new customer, new ticket), 20% follow-up texts
   from a number that already wrote (appended to its open ticket), 5% exact redeliveries of
   an earlier MessageSid (Twilio retrying; must not make a second message).
4. The worker (`flask worker`, at `nice 10` as in the Procfile; BENCH_WORKER_NICE changes it,
   --no-worker leaves it out) takes the stored webhooks in, as in production.
5. A thread pool posts them over loopback, each on a fresh connection (sync workers close
   after every response), and times each request from send to the last byte.
6. It reports accepted contacts/s (HTTP 200 answers per wall-clock second), p50/p95/p99/max
   latency, CPU per contact of the webhook, the worker and PostgreSQL, how long the worker
   then needed to take the backlog in, and checks the database: one message per distinct
   MessageSid, nothing quarantined.

Bounded: at most 50,000 requests, a deadline (--max-seconds) after which nothing more is sent,
loopback only. The client runs on the same two cores as the server, so it competes for CPU;
the figures are a floor for a server with its own cores.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import recreate_database  # noqa: E402

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_sms")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
AUTH_TOKEN = "bench-twilio-auth-token"
#: the worker's CPU priority, as in the Procfile; BENCH_WORKER_NICE=19 tries a stricter one
WORKER_NICE = os.environ.get("BENCH_WORKER_NICE", "10")
ACCOUNT_SID = "AC" + "b" * 32
TO_NUMBER = "+3197010000009"
MAX_REQUESTS = 50_000
PATH = "/inbound/twilio/sms"
BODIES = (
    "Mijn pakket is nog steeds niet bezorgd, ordernummer {n}.",
    "De monteur is weer niet gekomen. Wanneer komt hij wel?",
    "My invoice {n} is wrong: I was charged twice this month.",
    "Storing sinds vanochtend, internet valt steeds weg 😡",
    "Bedankt voor het snelle antwoord, maar het probleem is er opnieuw.",
)


@dataclass(frozen=True)
class Webhook:
    body: bytes
    signature: str
    message_sid: str


@dataclass(frozen=True)
class Answer:
    message_sid: str
    status: int
    seconds: float


# --- database -----------------------------------------------------------------------------------


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")


def create_schema(env: dict[str, str]) -> None:
    # From the models rather than `flask db upgrade`: the bench measures the webhook, and the
    # models are the schema the code under test expects even while a migration is pending.
    code = (
        "from ticketing.app import create_app\n"
        "from ticketing.extensions import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    db.create_all()\n"
    )
    _run([sys.executable, "-c", code], env)


def check_database() -> dict[str, int]:
    engine = sa.create_engine(BENCH_URL)
    with engine.connect() as connection:
        counts = {
            name: connection.scalar(sa.text(sql))
            for name, sql in {
                "messages": "SELECT count(*) FROM messages WHERE channel = 'sms'",
                "tickets": "SELECT count(*) FROM tickets",
                "customers": "SELECT count(*) FROM customers",
                "raw_records": "SELECT count(*) FROM inbound_records",
                "duplicates": "SELECT count(*) FROM inbound_records WHERE status = 'duplicate'",
                "quarantined": "SELECT count(*) FROM inbound_records WHERE status = 'quarantined'",
            }.items()
        }
    engine.dispose()
    return counts


# --- server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_answers(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.flushdb()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "use the SQLite queue instead"
        return False


def server_environment(port: int, use_redis: bool) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "SMTP_", "IMAP_", "HUEY_", "PUBLIC_BASE_URL"))
    }
    env.update(
        TICKETING_ENV="production",
        SECRET_KEY="bench-secret-key-" + "x" * 32,
        DATABASE_URL=BENCH_URL,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SMS_ACKNOWLEDGEMENT="0",
        TRUSTED_PROXY_COUNT="0",
    )
    if use_redis:
        env["REDIS_URL"] = REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    return env


def start_gunicorn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--workers", "2",
            "--worker-class", "sync",
            "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning",
            "--backlog", "256",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop_gunicorn(process)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The background worker that takes the stored webhooks in, as `make run` starts it."""
    return subprocess.Popen(
        ["nice", "-n", WORKER_NICE, str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "worker"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def waiting_records() -> int:
    engine = sa.create_engine(BENCH_URL)
    with engine.connect() as connection:
        waiting = connection.scalar(
            sa.text("SELECT count(*) FROM inbound_records WHERE status = 'received'")
        )
    engine.dispose()
    return int(waiting or 0)


def wait_for_intake(deadline_seconds: float) -> float | None:
    """Seconds until the worker has taken every stored webhook in (None: not within the limit)."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_seconds:
        if waiting_records() == 0:
            return time.perf_counter() - started
        time.sleep(0.25)
    return None


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --- CPU accounting (the machine is shared, so wall clock alone says little) ---------------

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of the processes, from /proc (vanished ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def gunicorn_workers(master: int) -> list[int]:
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # ppid
            workers.append(int(stat.parent.name))
    return workers


def database_backends() -> list[int]:
    engine = sa.create_engine(BENCH_URL)
    with engine.connect() as connection:
        pids = list(
            connection.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
        )
    engine.dispose()
    return pids


# --- load ---------------------------------------------------------------------------------------


def prepare(count: int, port: int, seed: int) -> list[Webhook]:
    """Sign every webhook up front, so the client spends its time sending."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}{PATH}"
    rng = random.Random(seed)
    senders: list[str] = []
    sent: list[Webhook] = []
    webhooks: list[Webhook] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.05 and sent:
            webhooks.append(rng.choice(sent))  # Twilio redelivers the very same request
            continue
        if roll < 0.25 and senders:
            sender = rng.choice(senders)
        else:
            sender = f"+316{20_000_000 + len(senders):08d}"
            senders.append(sender)
        form = {
            "ToCountry": "NL",
            "SmsMessageSid": f"SM{seed:08x}{n:024x}",
            "NumMedia": "0",
            "SmsSid": f"SM{seed:08x}{n:024x}",
            "SmsStatus": "received",
            "Body": rng.choice(BODIES).format(n=n),
            "FromCountry": "NL",
            "To": TO_NUMBER,
            "NumSegments": "1",
            "MessageSid": f"SM{seed:08x}{n:024x}",
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        webhook = Webhook(
            urlencode(form).encode(), validator.compute_signature(url, form), form["MessageSid"]
        )
        webhooks.append(webhook)
        sent.append(webhook)
    return webhooks


def post(port: int, webhook: Webhook) -> Answer:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": webhook.signature,
    }
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", PATH, webhook.body, headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        connection.close()
    return Answer(webhook.message_sid, status, time.perf_counter() - started)


def run_load(
    port: int, webhooks: list[Webhook], concurrency: int, max_seconds: float
) -> tuple[list[Answer], float]:
    answers: list[Answer] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    queue = iter(webhooks)

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                webhook = next(queue, None)
            if webhook is None:
                return
            answer = post(port, webhook)
            with lock:
                answers.append(answer)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return answers, time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--no-worker", action="store_true",
                        help="measure the webhook alone; stored webhooks stay waiting")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise SystemExit(f"--requests must be between 1 and {MAX_REQUESTS}")
    if not 1 <= args.concurrency <= 64:
        raise SystemExit("--concurrency must be between 1 and 64")

    port = free_port()
    use_redis = redis_answers(REDIS_URL)
    env = server_environment(port, use_redis)
    print(f"database: {BENCH_URL} (recreated)", flush=True)
    recreate_database(BENCH_URL)
    create_schema(env)
    print(f"schema:   db.create_all(); task queue: {'Redis' if use_redis else 'SQLite (Huey)'}")
    webhooks = prepare(args.warmup + args.requests, port, args.seed)
    warmup, measured = webhooks[: args.warmup], webhooks[args.warmup :]

    server = start_gunicorn(port, env)
    worker = start_worker(env) if not args.no_worker else None
    drain: float | None = None
    try:
        print(f"gunicorn: 2 sync workers on 127.0.0.1:{port}; warming up with {len(warmup)}")
        warm, _ = run_load(port, warmup, args.concurrency, args.max_seconds)
        refused = [a.status for a in warm if a.status != 200]
        if refused:
            raise SystemExit(f"warm-up answers were not all 200: {sorted(set(refused))}")
        if worker is not None and wait_for_intake(120) is None:
            raise SystemExit("the worker did not take the warm-up webhooks in within 120 s")
        print(f"load:     {len(measured)} webhooks, {args.concurrency} at a time", flush=True)
        workers, backends = gunicorn_workers(server.pid), database_backends()
        worker_pids = [worker.pid] if worker is not None else []
        cpu_before = (cpu_seconds(workers), cpu_seconds(backends), time.process_time(),
                      cpu_seconds(worker_pids))
        load_before = os.getloadavg()[0]
        answers, wall = run_load(port, measured, args.concurrency, args.max_seconds)
        load_after = os.getloadavg()[0]
        web_cpu = cpu_seconds(workers) - cpu_before[0]
        client_cpu = time.process_time() - cpu_before[2]
        worker_cpu_load = cpu_seconds(worker_pids) - cpu_before[3]
        waiting_at_end = waiting_records()
        if worker is not None:
            drain = wait_for_intake(args.max_seconds * 10)
        worker_cpu = cpu_seconds(worker_pids) - cpu_before[3]
        # Backends that were there before count from then; ones that started later count whole.
        db_cpu = cpu_seconds(sorted(set(backends) | set(database_backends()))) - cpu_before[1]
    finally:
        stop_gunicorn(server)
        if worker is not None:
            stop_gunicorn(worker)

    counts = check_database()
    distinct = len({a.message_sid for a in (*warm, *answers)})  # what was actually sent
    accepted = [a for a in answers if a.status == 200]
    latencies = sorted(a.seconds * 1000 for a in answers)
    statuses: dict[int, int] = {}
    for answer in answers:
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    print()
    print(f"sent {len(answers)} in {wall:.2f} s; answers {dict(sorted(statuses.items()))}")
    print(f"accepted contacts/s: {len(accepted) / wall:.0f}")
    print(
        "latency ms: "
        f"p50 {percentile(latencies, 0.50):.1f}  p95 {percentile(latencies, 0.95):.1f}  "
        f"p99 {percentile(latencies, 0.99):.1f}  max {latencies[-1]:.1f}  "
        f"mean {statistics.fmean(latencies):.1f}"
    )
    per_contact = 1000 / max(len(accepted), 1)
    print(
        f"CPU per accepted contact: gunicorn {web_cpu * per_contact:.1f} ms (the webhook); "
        f"worker {worker_cpu * per_contact:.1f} ms (intake; {worker_cpu_load * per_contact:.1f} "
        f"ms of it during the load); PostgreSQL {db_cpu * per_contact:.1f} ms (both); "
        f"client {client_cpu * per_contact:.1f} ms"
    )
    print(
        f"load average (1 min) before/after: {load_before:.1f} / {load_after:.1f} on "
        f"{os.cpu_count()} cores"
    )
    if worker is not None:
        total = wall + (drain or 0.0)
        print(
            f"intake:   {waiting_at_end} webhooks still waiting when the load ended; all taken in "
            + (f"{drain:.1f} s later, {total:.1f} s after the first webhook "
               f"({len(accepted) / total:.0f} contacts/s end to end)" if drain is not None
               else "NOT within the limit")
        )
    print(f"database: {counts}; distinct MessageSids sent {distinct}")
    ok = counts["quarantined"] == 0 and (
        args.no_worker or (drain is not None and counts["messages"] == distinct)
    )
    print("check:    " + ("one message per MessageSid, nothing quarantined" if ok else "FAILED"))
    if not args.keep_database:
        url = sa.make_url(BENCH_URL)
        engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        engine.dispose()
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
