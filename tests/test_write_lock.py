"""SQLite's write lock: a unit of work that began with it keeps it when asked for it again."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from ticketing.app import create_app
from ticketing.db import lock_for_writing
from ticketing.extensions import db
from ticketing.models import InboundRecord


@pytest.fixture
def file_app(tmp_path):
    app = create_app(
        "test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'lock.db'}",
        INSTANCE_PATH=str(tmp_path), RATELIMIT_STORAGE_URI="memory://",
    )
    with app.app_context():
        db.create_all()
        yield app, tmp_path / "lock.db"
        db.session.remove()
        db.engine.dispose()


def _another_writer_gets_in(path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return "locked" not in str(error)
    other.execute("ROLLBACK")
    return True


def test_asking_again_after_reading_keeps_the_write_lock(file_app):
    _app, path = file_app
    lock_for_writing()
    db.session.scalar(sa.select(sa.func.count(InboundRecord.id)))  # a check before the work
    transaction = db.session().get_transaction()

    lock_for_writing()  # as process_record does after process_received's check

    assert db.session().get_transaction() is transaction
    assert not _another_writer_gets_in(path)
    db.session.rollback()
    assert _another_writer_gets_in(path)


def test_a_read_only_transaction_is_ended_to_take_the_write_lock(file_app):
    _app, path = file_app
    db.session.scalar(sa.select(sa.func.count(InboundRecord.id)))  # a plain (deferred) read
    transaction = db.session().get_transaction()

    lock_for_writing()
    db.session.scalar(sa.select(sa.func.count(InboundRecord.id)))

    assert db.session().get_transaction() is not transaction
    assert not _another_writer_gets_in(path)
    db.session.rollback()
