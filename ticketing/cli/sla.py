"""`flask sla replay | explain | recompute | sweep`: the SLA contract and its operations."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ticketing.cli.sla_replay import replay_command
from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import Ticket


@click.group("sla")
def sla_group() -> None:
    """SLA clocks: replay the contract, explain a ticket, recompute, sweep."""


sla_group.add_command(replay_command)


@sla_group.command("explain")
@click.argument("reference")
@with_appcontext
def explain_command(reference: str) -> None:
    """Print a ticket's clocks and their segments in plain words."""
    from ticketing.services.sla import explain_ticket

    ticket_id = Ticket.id_from_reference(reference)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        raise click.ClickException(f"no ticket {reference}")
    clocks = explain_ticket(ticket, now=utcnow())
    click.echo(f"{ticket.reference} · {ticket.subject} · {ticket.status.value} "
               f"· priority {ticket.priority.value}")
    policy = (ticket.sla_policy_snapshot or {}).get("name", "fallback")
    click.echo(f"policy: {policy}")
    if not clocks:
        click.echo("no clocks yet: the customer has not written")
    for title, lines in clocks:
        click.echo(f"\n{title}")
        for line in lines:
            click.echo(f"  - {line}")
    db.session.rollback()  # explaining changes nothing


@sla_group.command("recompute")
@click.option("--reapply-policy", is_flag=True,
              help="Choose each open ticket's policy again (a changed policy then applies).")
@with_appcontext
def recompute_command(reapply_policy: bool) -> None:
    """Re-evaluate the clocks of every open ticket."""
    from ticketing.services.sla import recompute_open_tickets

    count = recompute_open_tickets(now=utcnow(), reapply_policy=reapply_policy)
    db.session.commit()
    click.echo(f"recomputed {count} open tickets")


@sla_group.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Record clocks that became at risk or breached (what the worker does every minute)."""
    from ticketing.jobs import sweep_sla_periodically

    click.echo(json.dumps(sweep_sla_periodically.call_local()))
