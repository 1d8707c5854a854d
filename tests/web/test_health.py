"""GET /healthz: database and task-queue reachability as JSON, 503 when either is down."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import skip_or_fail
from ticketing.app import create_app
from ticketing.extensions import db, huey


@pytest.fixture
def restore_queue() -> Iterator[None]:
    """Give the shared task queue and the worker's bound app back as the suite had them."""
    from ticketing import jobs

    saved = (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
             jobs._bound_app)
    yield
    if hasattr(huey.storage, "pool"):
        huey.storage.pool.disconnect()
    (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
     jobs._bound_app) = saved


def closed_port() -> int:
    """A loopback port nothing listens on: bound once by us, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def probe_app(tmp_path: Path, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "ATTACHMENT_STORAGE_PATH": str(tmp_path / "attachments"),
        "INSTANCE_PATH": str(tmp_path),
    }
    settings.update(overrides)
    return create_app("test", **settings)


def healthz(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/healthz")
    assert response.mimetype == "application/json"
    status = response.status_code
    body = response.get_json()
    with app.app_context():
        db.engine.dispose()
    return status, body


def test_healthz_reports_database_and_queue_reachable(client, app):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "dialect": db.engine.dialect.name}
    assert body["checks"]["queue"] == {"ok": True, "backend": "inline", "pending": 0}


def test_healthz_reports_inbound_records_waiting_for_the_worker(client, db_session):
    from datetime import timedelta

    from ticketing.clock import utcnow
    from ticketing.pipeline import store_raw

    assert client.get("/healthz").get_json()["checks"]["inbound"] == {
        "ok": True, "waiting": 0, "oldest_waiting_seconds": None,
    }
    store_raw("sms", b"Body=hallo", now=utcnow() - timedelta(minutes=5))
    db_session.commit()

    response = client.get("/healthz")

    assert response.status_code == 200  # a backlog is news, not ill health
    inbound = response.get_json()["checks"]["inbound"]
    assert inbound["waiting"] == 1
    assert 295 <= inbound["oldest_waiting_seconds"] <= 400


def test_healthz_needs_no_login_and_sets_no_cookie(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "unreachable",
    [
        pytest.param(lambda tmp: f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/none",
                     id="postgresql-closed-port"),
        pytest.param(lambda tmp: f"sqlite:///{tmp / 'no-such-folder' / 'ticketing.db'}",
                     id="sqlite-unopenable-file"),
    ],
)
def test_healthz_is_503_when_the_database_is_unreachable(tmp_path, unreachable):
    app = probe_app(tmp_path, SQLALCHEMY_DATABASE_URI=unreachable(tmp_path))

    status, body = healthz(app)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    # The queue is judged on its own, so an operator sees which part is down.
    assert body["checks"]["queue"]["ok"] is True


def test_healthz_reports_the_redis_queue_reachable(tmp_path, restore_queue):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        skip_or_fail("REDIS_URL is not set, so the Redis-backed queue is not checked")
    app = probe_app(tmp_path, HUEY_IMMEDIATE=False, REDIS_URL=redis_url)

    status, body = healthz(app)

    assert status == 200
    queue = body["checks"]["queue"]
    assert queue["ok"] is True
    assert queue["backend"] == "RedisStorage"
    assert isinstance(queue["pending"], int)


def test_healthz_is_503_when_redis_is_unreachable(tmp_path, restore_queue):
    app = probe_app(tmp_path, HUEY_IMMEDIATE=False,
                    REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")

    status, body = healthz(app)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"] == {"ok": False, "error": "ConnectionError"}


def test_healthz_reports_the_sqlite_queue_in_instance(tmp_path, restore_queue):
    app = probe_app(tmp_path, HUEY_IMMEDIATE=False, REDIS_URL=None)

    status, body = healthz(app)
    huey.storage.close()

    assert status == 200
    assert body["checks"]["queue"] == {"ok": True, "backend": "SqliteStorage", "pending": 0}
    assert (tmp_path / "huey.db").exists()
