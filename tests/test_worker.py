"""`flask worker` really runs queued tasks, on SQLite (the embedded default) and on Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from ticketing.extensions import db, huey

REPOSITORY = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).with_name("flask"))
SECRET_KEY = "worker-test-secret"
#: the worker must have sent the row within this many seconds
DEADLINE = 30


@pytest.fixture
def restore_queue() -> Iterator[None]:
    """Give the shared task queue and the worker's bound app back as the suite had them."""
    from ticketing import jobs

    saved = (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
             jobs._bound_app)
    yield
    storage = huey.storage
    if hasattr(storage, "pool"):
        storage.pool.disconnect()
    elif hasattr(storage, "close"):
        storage.close()
    (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
     jobs._bound_app) = saved


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database built by `flask db upgrade` once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("migrated")
    migrated = flask("db", "upgrade", env=worker_environment(folder, None))
    assert migrated.returncode == 0, migrated.stderr
    return folder / "w.db"


def worker_environment(tmp_path: Path, redis_url: str | None) -> dict[str, str]:
    """The environment an operator would give `flask worker`, pointed at temporary files."""
    env = {
        name: value for name, value in os.environ.items()
        if not name.startswith(("SMTP_", "TWILIO_", "IMAP_", "HUEY_", "REDIS_", "FLASK_"))
    }
    env.update(
        TICKETING_ENV="development",
        DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
        SECRET_KEY=SECRET_KEY,
        TICKETING_INSTANCE_PATH=str(tmp_path / "instance"),
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def flask(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FLASK, "--app", "wsgi", *args], cwd=REPOSITORY, env=env, text=True,
                          capture_output=True, timeout=120, check=False, **kwargs)


def same_app_in_this_process(tmp_path: Path, redis_url: str | None) -> Any:
    """The app as the worker builds it from its environment, so both share one queue."""
    from ticketing.app import create_app

    return create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'w.db'}",
        SECRET_KEY=SECRET_KEY,
        INSTANCE_PATH=str(tmp_path / "instance"),
        REDIS_URL=redis_url,
        HUEY_IMMEDIATE=False,
        SMTP_HOST=None,
        TWILIO_ACCOUNT_SID=None,
        RATELIMIT_ENABLED=False,
        RATELIMIT_STORAGE_URI="memory://",
    )


def run_one_delivery_through_the_worker(tmp_path: Path, template: Path,
                                        redis_url: str | None) -> None:
    from ticketing import jobs
    from ticketing.clock import utcnow
    from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage
    from ticketing.models import OutboxMessage, OutboxStatus
    from ticketing.services import outbox

    env = worker_environment(tmp_path, redis_url)
    # A WAL file left by the migrating process holds part of the schema until checkpointed.
    for suffix in ("", "-wal"):
        if template.with_name(template.name + suffix).exists():
            shutil.copyfile(template.with_name(template.name + suffix),
                            tmp_path / f"w.db{suffix}")

    app = same_app_in_this_process(tmp_path, redis_url)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        # No periodic tasks: the row must be sent by the task enqueued below and nothing else.
        worker = subprocess.Popen(
            [FLASK, "--app", "wsgi", "worker", "--workers", "1", "--no-periodic"],
            cwd=REPOSITORY, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    try:
        with app.app_context():
            row = outbox.enqueue(
                OutboundMessage(Channel.sms, Identity(IdentityKind.phone, "+31612345678"),
                                "Uw klacht T-1 is ontvangen."),
                now=utcnow(), purpose="acknowledgement",
            )
            db.session.commit()
            row_id = row.id

            results_before = huey.result_count()
            jobs.deliver_outbox_task()
            # The queue keeps no results (nothing reads them), so watch the row itself.
            deadline = time.monotonic() + DEADLINE
            while True:
                # End the read transaction first, or SQLite keeps showing its old snapshot.
                db.session.rollback()
                sent = db.session.get(OutboxMessage, row_id)
                if sent.status == OutboxStatus.sent or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if sent.status != OutboxStatus.sent:
                pytest.fail(f"worker did not run the task; log:\n{log_path.read_text()}")
            assert sent.delivered_via == "dev"
            assert sent.attempts == 1
            # Nothing reads task results, so none may pile up in the queue's store.
            assert huey.result_count() == results_before
            db.session.remove()
            db.engine.dispose()
    finally:
        worker.send_signal(signal.SIGINT)  # the consumer's graceful stop
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode is not None


def test_the_worker_runs_queued_tasks_from_sqlite_in_the_instance_folder(
    tmp_path, migrated_database, restore_queue
):
    run_one_delivery_through_the_worker(tmp_path, migrated_database, redis_url=None)

    # The queue was the embedded SQLite file, in the instance folder the worker was given.
    assert (tmp_path / "instance" / "huey.db").exists()
    assert "worker: SqliteStorage, 1 threads" in (tmp_path / "worker.log").read_text()


@pytest.mark.redis
def test_the_worker_runs_queued_tasks_from_redis(tmp_path, migrated_database, restore_queue):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        skip_or_fail("REDIS_URL is not set, so the Redis-backed worker is not tried")
    # Our own database number on the same server, so no other queue is touched.
    server = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    own_database = f"{server}/14"

    run_one_delivery_through_the_worker(tmp_path, migrated_database, redis_url=own_database)

    assert not (tmp_path / "instance" / "huey.db").exists()
    assert "worker: RedisStorage, 1 threads" in (tmp_path / "worker.log").read_text()
