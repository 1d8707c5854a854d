"""`flask email ingest` (files, maildirs, mbox, stdin) and `flask email poll` (IMAP)."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from ticketing.extensions import db


@click.group("email")
def email_group() -> None:
    """Inbound mail."""


@email_group.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@with_appcontext
def ingest_command(paths: tuple[str, ...], progress: bool | None) -> None:
    """Take in raw mail from .eml files, folders, maildirs, mbox files or - (stdin).

    A batch is processed in the order the mail was written, so an original is read before the
    replies to it. Prints one JSON line per message: source, message_id, outcome (created,
    appended, duplicate, auto_reply, bounce, quarantined) and ticket.
    """
    from ticketing.jobs import kick_outbox
    from ticketing.mail_ingest import ingest_many, outcome_line
    from ticketing.mailsource import in_written_order, read_sources
    from ticketing.services.intake import IntakeSettings

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stdin = sys.stdin.buffer.read() if "-" in paths else None
    try:
        messages = in_written_order(read_sources(paths, stdin=stdin))
    except FileNotFoundError as error:
        raise click.ClickException(f"no such file or folder: {error}") from None
    settings = IntakeSettings.from_config(app.config)
    show_bar = sys.stderr.isatty() if progress is None else progress
    counts: dict[str, int] = {}
    with click.progressbar(length=len(messages), label="ingesting", file=sys.stderr,
                           hidden=not show_bar) as bar:
        for message, outcome in ingest_many(app, messages, settings=settings):
            bar.update(1)
            line = outcome_line(outcome, message.source, message.raw)
            counts[line["outcome"]] = counts.get(line["outcome"], 0) + 1
            click.echo(json.dumps(line, ensure_ascii=False))
    db.session.remove()
    kick_outbox()
    if show_bar:
        summary = ", ".join(f"{count} {name}" for name, count in sorted(counts.items()))
        click.echo(f"{len(messages)} messages: {summary}", err=True)


@email_group.command("poll")
@with_appcontext
def poll_command() -> None:
    """Poll the configured IMAP mailbox once and print a summary."""
    from ticketing.mailbox import poll_configured_mailbox

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("IMAP_HOST"):
        raise click.ClickException("IMAP_HOST is not set")
    click.echo(json.dumps(poll_configured_mailbox(app)))
