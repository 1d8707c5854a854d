"""Helpers the benchmarks share: a fresh PostgreSQL database and timed generator steps."""

from __future__ import annotations

import time

import sqlalchemy as sa


def recreate_database(url: str) -> None:
    """Drop and create the database the URL names, through the server's `postgres` database."""
    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    admin.dispose()


def timed_step(connection: sa.Connection, label: str, sql: str, **params: object) -> None:
    """Run one generator statement and print its row count and duration."""
    started = time.perf_counter()
    result = connection.execute(sa.text(sql), params)
    rows = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else "-"
    print(f"  {label:<34} {rows:>10} rows  {time.perf_counter() - started:7.1f} s", flush=True)
