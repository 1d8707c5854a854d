"""Start-up settings: production refuses to guess, development keeps its own files in instance/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from huey.storage import RedisStorage, SqliteStorage

from ticketing.app import ConfigurationError, create_app
from ticketing.extensions import db, huey

#: Settings that keep the extensions shared by the whole suite (rate limiter) as it expects them.
SHARED_EXTENSIONS = {"RATELIMIT_ENABLED": False, "RATELIMIT_STORAGE_URI": "memory://"}


@pytest.fixture
def restore_queue() -> Iterator[None]:
    """Give the shared task queue and the worker's bound app back as the suite had them."""
    from ticketing import jobs

    saved = (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
             jobs._bound_app)
    yield
    (huey.storage_class, huey.storage_kwargs, huey._immediate, huey.storage,
     jobs._bound_app) = saved


def build_app(name: str, instance: Path, **overrides: Any) -> Flask:
    """Create an app of one environment with its instance folder in a temporary directory."""
    settings: dict[str, Any] = {
        "INSTANCE_PATH": str(instance),
        "HUEY_IMMEDIATE": True,
        "REDIS_URL": None,
        **SHARED_EXTENSIONS,
    }
    settings.update(overrides)
    return create_app(name, **settings)


def dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


# --- production ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SQLALCHEMY_DATABASE_URI": None}, "DATABASE_URL"),
        ({"SECRET_KEY": "", "SQLALCHEMY_DATABASE_URI": ""}, "SECRET_KEY, DATABASE_URL"),
    ],
)
def test_production_refuses_to_start_without_a_required_setting(tmp_path, missing, named):
    settings = {"SECRET_KEY": "a-real-secret", "SQLALCHEMY_DATABASE_URI": "sqlite://", **missing}

    with pytest.raises(ConfigurationError, match=f"production needs {named} in the environment"):
        build_app("production", tmp_path, **settings)

    # Refusing means refusing: no secret or database was made up on the side.
    assert not (tmp_path / "secret_key").exists()
    assert not (tmp_path / "ticketing.db").exists()


def test_production_starts_with_a_secret_and_a_database(tmp_path, restore_queue):
    app = build_app("production", tmp_path, SECRET_KEY="a-real-secret",
                    SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'prod.db'}")

    assert app.config["SECRET_KEY"] == "a-real-secret"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()
    dispose(app)


def test_an_unknown_environment_name_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown TICKETING_ENV 'staging'"):
        build_app("staging", tmp_path)


# --- development: the embedded default -----------------------------------------------------------


def test_development_generates_a_secret_in_instance_and_keeps_it(tmp_path, restore_queue):
    first = build_app("development", tmp_path, SECRET_KEY=None,
                      SQLALCHEMY_DATABASE_URI="sqlite://")
    secret_file = tmp_path / "secret_key"

    assert secret_file.read_text() == first.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert secret_file.stat().st_mode & 0o777 == 0o600

    second = build_app("development", tmp_path, SECRET_KEY=None,
                       SQLALCHEMY_DATABASE_URI="sqlite://")
    # Sessions survive a restart because the second start reads the same secret.
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    dispose(first)
    dispose(second)


def test_development_uses_a_given_secret_and_writes_none(tmp_path, restore_queue):
    app = build_app("development", tmp_path, SECRET_KEY="from-the-environment",
                    SQLALCHEMY_DATABASE_URI="sqlite://")

    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()
    dispose(app)


def test_the_embedded_database_is_sqlite_in_instance_with_wal_and_foreign_keys(
    tmp_path, restore_queue
):
    app = build_app("development", tmp_path, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI=None)

    database_file = tmp_path / "ticketing.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{database_file}"
    with app.app_context():
        with db.engine.connect() as connection:
            journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        db.engine.dispose()
    assert journal_mode == "wal"
    assert foreign_keys == 1
    assert database_file.exists()


def test_the_instance_path_defaults_to_instance_beside_the_package(monkeypatch, restore_queue):
    monkeypatch.delenv("TICKETING_INSTANCE_PATH", raising=False)
    app = create_app("test", SQLALCHEMY_DATABASE_URI="sqlite://", **SHARED_EXTENSIONS)

    repository = Path(__file__).resolve().parents[1]
    assert Path(app.instance_path) == repository / "instance"
    dispose(app)


# --- the task queue ------------------------------------------------------------------------------


def test_without_redis_url_the_queue_is_sqlite_huey_in_instance(tmp_path, restore_queue):
    app = build_app("development", tmp_path, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://",
                    HUEY_IMMEDIATE=False)

    assert huey.immediate is False
    assert isinstance(huey.storage, SqliteStorage)
    assert Path(huey.storage.filename) == tmp_path / "huey.db"
    assert (tmp_path / "huey.db").exists()
    huey.storage.close()
    dispose(app)


def test_redis_url_selects_redis_huey(tmp_path, restore_queue):
    app = build_app("development", tmp_path, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://",
                    HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:6379/14")

    assert huey.immediate is False
    assert isinstance(huey.storage, RedisStorage)
    # The URL is only parsed here; no connection is needed to choose the backend.
    connection = huey.storage.pool.connection_kwargs
    assert (connection["host"], connection["port"], connection["db"]) == ("127.0.0.1", 6379, 14)
    assert not (tmp_path / "huey.db").exists()
    huey.storage.pool.disconnect()
    dispose(app)


def test_the_instance_path_can_come_from_the_environment(tmp_path, monkeypatch, restore_queue):
    # config.py reads the environment once, at import: reload it to see the variable.
    import importlib

    import config

    monkeypatch.setenv("TICKETING_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    importlib.reload(config)
    monkeypatch.delenv("TICKETING_INSTANCE_PATH")
    try:
        assert config.Config.INSTANCE_PATH == str(tmp_path / "elsewhere")
        development = config.DevelopmentConfig
    finally:
        importlib.reload(config)
    app = create_app(development, SECRET_KEY=None, SQLALCHEMY_DATABASE_URI=None,
                     HUEY_IMMEDIATE=True, REDIS_URL=None, **SHARED_EXTENSIONS)

    assert Path(app.instance_path) == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere" / "secret_key").exists()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/elsewhere/ticketing.db")
    dispose(app)


def test_huey_immediate_runs_tasks_inline(tmp_path, restore_queue):
    from ticketing import jobs
    from ticketing.clock import utcnow
    from ticketing.domain.contact import Channel, Identity, IdentityKind, OutboundMessage
    from ticketing.models import OutboxMessage, OutboxStatus
    from ticketing.services import outbox

    app = build_app("development", tmp_path, SECRET_KEY="s", HUEY_IMMEDIATE=True,
                    SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'inline.db'}",
                    SMTP_HOST=None, TWILIO_ACCOUNT_SID=None)
    assert huey.immediate is True
    assert not (tmp_path / "huey.db").exists()
    with app.app_context():
        db.create_all()
        row = outbox.enqueue(
            OutboundMessage(Channel.email, Identity(IdentityKind.email, "klant@example.nl"),
                            "Uw klacht is ontvangen."),
            now=utcnow(), purpose="acknowledgement",
        )
        db.session.commit()

        jobs.deliver_outbox_task()

        # The task ran in this call: the row was sent before it returned.
        db.session.expire_all()
        sent = db.session.get(OutboxMessage, row.id)
        assert sent.status == OutboxStatus.sent
        assert sent.delivered_via == "dev"
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        ("postgres://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:///instance/ticketing.db", "sqlite:///instance/ticketing.db"),
        (None, None),
    ],
)
def test_database_urls_name_the_installed_driver(given, expected):
    from ticketing.db import normalise_database_url

    assert normalise_database_url(given) == expected
