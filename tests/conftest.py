"""Shared fixtures: the app on SQLite and PostgreSQL, per-test rollback, factories, clients."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from ticketing.db import normalise_database_url

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
TEST_DATABASE_URL = normalise_database_url(os.environ.get("TEST_DATABASE_URL"))
if TEST_DATABASE_URL:
    # CI exports postgresql://...; tests that read the variable themselves get the same driver.
    os.environ["TEST_DATABASE_URL"] = TEST_DATABASE_URL
REDIS_URL = os.environ.get("REDIS_URL")
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
FIXED_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # a Monday morning in Amsterdam


@contextmanager
def throwaway_database(name: str, base_url: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database beside `base_url`'s (TEST_DATABASE_URL's); its URL.

    For tests that need real commits or several connections. It is dropped afterwards, and a
    database of that name left behind by a killed run is dropped first.
    """
    base = sa.make_url(base_url or TEST_DATABASE_URL)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        drop()
        admin.dispose()


def skip_or_fail(reason: str) -> None:
    """Skip a test whose service is missing; with REQUIRE_SERVICES=1 (CI), fail it instead."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"databases: sqlite{' + postgresql' if TEST_DATABASE_URL else ''}; "
        f"redis: {'yes' if REDIS_URL else 'no'}; require services: {REQUIRE_SERVICES}",
    ]


def _backends() -> list[Any]:
    postgres = pytest.param(
        "postgresql", marks=pytest.mark.postgres, id="postgresql"
    )
    return ["sqlite", postgres]


@pytest.fixture(scope="session", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database every DB test runs against: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        return "sqlite://"
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set, so the PostgreSQL run is skipped")
    return _worker_database(TEST_DATABASE_URL)


def _worker_database(url: str) -> str:
    """Give each xdist worker its own PostgreSQL database, so they never share tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = sa.make_url(url)
    name = f"{base.database}_{worker}"
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        )
        if not exists:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    from ticketing.app import create_app
    from ticketing.extensions import db

    instance = tmp_path_factory.mktemp("instance")
    application = create_app(
        "test",
        SQLALCHEMY_DATABASE_URI=database_url,
        ATTACHMENT_STORAGE_PATH=str(instance / "attachments"),
    )
    application.instance_path = str(instance)
    with application.app_context():
        if database_url.startswith("postgresql"):
            db.drop_all()
        db.create_all()
    yield application
    with application.app_context():
        if database_url.startswith("postgresql"):
            db.drop_all()
        db.engine.dispose()
    shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture
def db_session(app) -> Iterator[Any]:
    """A session whose work is rolled back after the test, commits included.

    The test's connection holds an outer transaction; the session joins it with savepoints, so
    `commit()` in views and services only releases a savepoint (SQLAlchemy 2 "Joining a Session
    into an External Transaction"). Flask-SQLAlchemy picks its bind from `db.engines`, so the
    connection is put there for the duration of the test.
    """
    from ticketing.extensions import db

    with app.app_context():
        db.session.remove()
        engines = db.engines
        real_engine = engines[None]
        connection = real_engine.connect()
        outer = connection.begin()
        engines[None] = connection
        db.session.configure(join_transaction_mode="create_savepoint")
        try:
            yield db.session
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            engines[None] = real_engine


class PerRequestGlobalsClient(FlaskClient):
    """A test client whose every request starts with an empty `g`.

    The db_session fixture keeps one app context open for the whole test, and Flask reuses it
    for requests, so `g` (flask-login's user, Flask-Babel's locale) would leak from one request
    into the next. Real requests each get a fresh context; this restores that.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask import g

        for name in list(vars(g)):
            delattr(g, name)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app, db_session):
    app.test_client_class = PerRequestGlobalsClient
    return app.test_client()


@pytest.fixture
def runner(app, db_session):
    return app.test_cli_runner()


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@functools.cache
def _quick_hash(password: str, method: str = "") -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@pytest.fixture
def quick_password_hashing(monkeypatch):
    """A cheap password hash for tests about something else: scrypt costs 0.3 s per hash.

    tests/web/test_auth.py checks the real scrypt hashing.
    """
    from ticketing.services import accounts

    monkeypatch.setattr(accounts, "generate_password_hash", _quick_hash)


def hand_made_ticket(db_session, ticket, text, at, *, channel="email", identity=None):
    """Another ticket of the same customer, made directly: what intake would do with such a
    contact (append, link, reopen) is the repeat detector's business, not these tests'."""
    from ticketing.models import Direction, Message, Ticket, TicketStatus
    from ticketing.services.events import record_event

    identity = identity or next(i for i in ticket.customer.identities if i.kind == "email")
    other = Ticket(customer=ticket.customer, subject=text[:40], status=TicketStatus.new,
                   channel=channel, opened_at=at, updated_at=at, last_customer_message_at=at,
                   contact_count=1)
    db_session.add(other)
    db_session.flush()
    message = Message(ticket=other, direction=Direction.inbound, channel=channel,
                      kind="message", external_id=f"hand-{other.id}@test", identity=identity,
                      text=text, new_text=text, created_at=at, meta={})
    db_session.add(message)
    db_session.flush()
    record_event(other, "ticket.created", now=at, channel=channel)
    record_event(other, "message.received", now=at, message=message, channel=channel)
    return other


@pytest.fixture
def make_user(db_session) -> Callable[..., Any]:
    from ticketing.models import Role
    from ticketing.services.accounts import create_user

    counter = iter(range(1, 10_000))

    def factory(role: str = "agent", *, email: str | None = None, team: Any = None,
                password: str = "correct horse battery", name: str | None = None) -> Any:
        number = next(counter)
        user = create_user(
            email=email or f"{role}{number}@example.org",
            name=name or f"{role.title()} {number}",
            password=password,
            role=Role(role),
            team=team,
            now=FIXED_NOW,
        )
        db_session.flush()
        return user

    return factory


@pytest.fixture
def login(client) -> Callable[..., Any]:
    def do_login(user: Any, password: str = "correct horse battery") -> Any:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    return do_login


@pytest.fixture
def intake_settings(app):
    from ticketing.services.intake import IntakeSettings

    return IntakeSettings.from_config(app.config)


@pytest.fixture
def make_contact() -> Callable[..., Any]:
    """Build a Contact with sensible defaults; override any field by keyword."""
    from ticketing.domain.contact import Channel, Contact, Identity, IdentityKind, ThreadHints

    counter = iter(range(1, 100_000))

    def factory(text: str = "Mijn bestelling is niet aangekomen.", *, sender: str =
                "klant@example.nl", channel: str = "email", at: datetime | None = None,
                **fields: Any) -> Contact:
        number = next(counter)
        kind = IdentityKind.phone if sender.startswith("+") else IdentityKind.email
        defaults: dict[str, Any] = {
            "channel": Channel(channel),
            "external_id": f"contact-{number}@test",
            "sender": Identity(kind, sender, fields.pop("name", None)),
            "received_at": at or FIXED_NOW,
            "text": text,
            "new_text": text,
            "subject": "Bestelling" if channel == "email" else None,
            "thread": ThreadHints(
                message_id=f"contact-{number}@test" if channel == "email" else None
            ),
        }
        defaults.update(fields)
        return Contact(**defaults)

    return factory


@pytest.fixture
def receive(db_session, intake_settings) -> Callable[..., Any]:
    """Run a contact through intake at an instant (default: FIXED_NOW)."""
    from ticketing.services.intake import receive_contact

    def do_receive(contact: Any, at: datetime | None = None, **settings_overrides: Any) -> Any:
        settings = intake_settings
        if settings_overrides:
            from dataclasses import replace

            settings = replace(settings, **settings_overrides)
        result = receive_contact(contact, now=at or contact.received_at, settings=settings)
        db_session.flush()
        return result

    return do_receive


def later(base: datetime, **delta: float) -> datetime:
    return base + timedelta(**delta)
