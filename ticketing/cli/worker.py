"""`flask worker` runs the Huey consumer; `flask outbox deliver` sends due messages by hand."""

from __future__ import annotations

import json
import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from ticketing.extensions import huey


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Threads running tasks.")
@click.option("--no-periodic", is_flag=True, help="Do not run the per-minute sweeps here.")
@with_appcontext
def worker_command(workers: int, no_periodic: bool) -> None:
    """Run the background worker: outbox delivery, SLA sweep, mailbox poll, webhooks."""
    from ticketing import jobs

    if huey.immediate:
        raise click.ClickException("the task queue runs inline (HUEY_IMMEDIATE); nothing to run")
    jobs.bind_app(current_app._get_current_object())  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    consumer = huey.create_consumer(
        workers=workers, worker_type="thread", periodic=not no_periodic, check_worker_health=True
    )
    click.echo(f"worker: {huey.storage.__class__.__name__}, {workers} threads")
    consumer.run()


@click.group("outbox")
def outbox_group() -> None:
    """Outbound messages."""


@outbox_group.command("deliver")
@click.option("--limit", default=500, show_default=True)
@with_appcontext
def deliver_command(limit: int) -> None:
    """Send every due message now and print a summary."""
    from ticketing.jobs import deliver_outbox

    click.echo(json.dumps(deliver_outbox(limit=limit)))
