"""Alembic environment: migrate the database of the Flask app that runs the command."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None:
    # Keep the app's own loggers alive (tests and `flask db` share the process).
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

migrate_extension = current_app.extensions["migrate"]
engine = migrate_extension.db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)
target_metadata = migrate_extension.db.metadata


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`flask db upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        **migrate_extension.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty_revisions(context, revision, directives):  # noqa: ARG001
        # `flask db migrate` with no model change should not write an empty file.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            log.info("no changes in the models; no migration written")

    arguments = dict(migrate_extension.configure_args)
    arguments.setdefault("process_revision_directives", skip_empty_revisions)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **arguments)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
