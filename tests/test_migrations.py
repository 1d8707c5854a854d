"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.conftest import TEST_DATABASE_URL, skip_or_fail, throwaway_database

# The word-search indexes are expressions on PostgreSQL only; Alembic cannot compare expression
# indexes on SQLite and says so. Everything else is compared.
pytestmark = pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set, so migrations are not checked on PostgreSQL")
    with throwaway_database(f"migrations_{uuid.uuid4().hex[:10]}") as url:
        yield url


def _app_for(url: str, tmp_path):
    from ticketing.app import create_app

    return create_app("test", SQLALCHEMY_DATABASE_URI=url, ATTACHMENT_STORAGE_PATH=str(tmp_path))


def test_upgrade_builds_the_models_schema(empty_database, tmp_path):
    from flask_migrate import upgrade

    from ticketing.extensions import db

    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": False}
            )
            differences = compare_metadata(context, db.metadata)
        db.session.remove()
        db.engine.dispose()
    assert differences == []


def test_downgrade_to_base_and_back(empty_database, tmp_path):
    from flask_migrate import downgrade, upgrade

    from ticketing.extensions import db

    app = _app_for(empty_database, tmp_path)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        db.session.remove()
        db.engine.dispose()
