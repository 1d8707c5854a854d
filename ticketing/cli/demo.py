"""`flask seed-demo`: the demo organisation, seeded once, with a month of realistic tickets."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ticketing.clock import utcnow
from ticketing.extensions import db


@click.command("seed-demo")
@click.option("--tickets", default=200, show_default=True, help="How many complaints to replay.")
@with_appcontext
def seed_demo_command(tickets: int) -> None:
    """Create the demo organisation unless it exists, then print the logins."""
    from ticketing import demo
    from ticketing.models import TicketStatus
    from ticketing.services import sla, ticket_actions
    from ticketing.services.escalations import seed_default_rules
    from ticketing.services.intake import IntakeSettings

    if demo.demo_exists():
        click.echo("demo organisation exists already; nothing seeded")
    else:
        now = utcnow()
        staff = demo.seed_staff(now)
        seed_default_rules(now=now)
        settings = IntakeSettings.from_config(current_app.config)
        outbound = ticket_actions.OutboundSettings.from_config(current_app.config)

        def reply(ticket, agent, text, at):
            ticket_actions.reply(ticket, text, actor=agent, now=at, settings=outbound,
                                 confirmed=True)

        def solve(ticket, agent, at):
            ticket_actions.set_status(ticket, TicketStatus.solved, actor=agent, now=at)

        with click.progressbar(length=1, label="replaying a month of complaints") as bar:
            created = demo.seed_tickets(now=now, settings=settings, staff=staff, count=tickets,
                                        reply=reply, solve=solve)
            bar.update(1)
        sla.recompute_open_tickets(now=now, reapply_policy=False)
        sla.sweep_clocks(now=now)
        db.session.commit()
        click.echo(f"seeded {created} tickets on e-mail, SMS and the web form")
    click.echo("")
    click.echo(f"Logins (password: {demo.DEMO_PASSWORD}):")
    for email, name, role, _team, _lang in demo.STAFF:
        click.echo(f"  {role.value:<11} {email:<26} {name}")
