"""`flask escalations sweep | seed`: run the time-based rules by hand, add the default rules."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from ticketing.clock import utcnow
from ticketing.extensions import db


@click.group("escalations")
def escalations_group() -> None:
    """Escalation rules."""


@escalations_group.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Evaluate time-based rules now (what the worker does every minute)."""
    from ticketing.jobs_escalation import sweep_escalations

    click.echo(json.dumps(sweep_escalations()))


@escalations_group.command("seed")
@click.option("--team-id", type=int, default=None, help="Team that takes over escalated tickets.")
@with_appcontext
def seed_command(team_id: int | None) -> None:
    """Add the default rules (a warning ladder and a repeat-contact rule) unless they exist."""
    from ticketing.services.escalations import seed_default_rules

    seed_default_rules(utcnow(), escalation_team_id=team_id)
    db.session.commit()
    click.echo("default escalation rules are in place")
