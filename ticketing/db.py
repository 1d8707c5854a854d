"""SQLAlchemy declarative base, naming convention and the tz-aware UTC column type."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

#: Deterministic constraint names, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def normalise_database_url(url: str | None) -> str | None:
    """Name the driver we ship (psycopg 3) in a PostgreSQL URL that does not say one.

    Hosting platforms often write `postgres://`, which SQLAlchemy does not accept at all; and a
    bare `postgresql://` means psycopg2 to SQLAlchemy 2.0 (psycopg in 2.1), which is not
    installed. Naming the driver keeps one meaning whatever the version.
    """
    if not url:
        return url
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store instants as UTC and always hand back tz-aware UTC datetimes.

    SQLite has no timezone type, and PostgreSQL returns the session's zone; normalising here makes
    both databases behave the same. Naive datetimes are refused: they are always a bug.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite compares instants as text: store one fixed, sortable form.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


#: execution option that makes SQLite begin the transaction with the write lock held
WRITE_LOCK_OPTION = "sqlite_write_lock"


def lock_for_writing() -> None:
    """Start the session's transaction ready to write (SQLite: BEGIN IMMEDIATE; else no-op).

    Call it first in a unit of work that reads and then writes under concurrency (intake, the
    outbox claim, sweeps). A transaction that has only read so far is ended first (nothing is
    lost: the loaded objects reload on access); one with pending changes is left as it is.
    """
    session = db.session()
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted or session.info.get(_HAS_WRITTEN):
            return  # it holds (or will take) the write lock with work worth keeping
        if session.connection().get_execution_options().get(WRITE_LOCK_OPTION):
            # Begun with the write lock already: ending it would let another writer in between
            # a caller's check ("still waiting?") and its work.
            return
        session.rollback()
    session.connection(execution_options={WRITE_LOCK_OPTION: True})


def serialize_transactions(name: str) -> None:
    """Let one transaction at a time past this point, until it ends (commit or rollback).

    PostgreSQL: a transaction-scoped advisory lock named after `name`. SQLite: nothing to do,
    its write lock (`lock_for_writing`) already lets one writer in at a time.
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return
    key = zlib.crc32(name.encode())  # fits the bigint the function takes
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reserve_ids(counts: dict[sa.Table, int]) -> dict[sa.Table, list[int]] | None:
    """Ids from the sequence behind each table's `id`, ascending, in one query (PostgreSQL).

    None on SQLite, which has no sequences. A caller that knows its rows' ids before writing
    them can insert them with one prepared statement executed per row, without RETURNING. Ids
    are drawn as an INSERT would draw them, so a rolled-back transaction leaves the same gaps
    it always did.
    """
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        return None
    wanted = {table: count for table, count in counts.items() if count > 0}
    if not wanted:
        return {}
    for table in wanted:
        key = table.primary_key.columns.values()
        if len(key) != 1 or key[0].name != "id":
            raise ValueError(f"{table.name} has no single integer id to draw from a sequence")
    parts = [
        sa.select(
            sa.literal(table.name).label("table_name"),
            sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id")).label("id"),
        ).select_from(sa.func.generate_series(1, count))
        for table, count in wanted.items()
    ]
    with session.no_autoflush:  # pending rows must not be written before they have their ids
        rows = session.execute(sa.union_all(*parts)).all()
    by_name: dict[str, list[int]] = {}
    for table_name, new_id in rows:
        by_name.setdefault(table_name, []).append(new_id)
    return {table: sorted(by_name[table.name]) for table in wanted}


_HAS_WRITTEN = "has_written"


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _remember_write(session: sa.orm.Session, _context: Any) -> None:
    session.info[_HAS_WRITTEN] = True


@sa.event.listens_for(sa.orm.Session, "after_transaction_end")
def _forget_write(session: sa.orm.Session, transaction: sa.orm.SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HAS_WRITTEN, None)
