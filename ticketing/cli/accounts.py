"""`flask create-user` and `flask create-token`."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ticketing.clock import utcnow
from ticketing.extensions import db
from ticketing.models import Role, Team, User
from ticketing.services.accounts import AccountError, create_api_token, create_user


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="agent")
@click.option("--team", "team_name", default=None, help="Team name; created if missing.")
@click.option("--language", type=click.Choice(["nl", "en"]), default="en")
@click.password_option()
@with_appcontext
def create_user_command(
    email: str, name: str, role: str, team_name: str | None, language: str, password: str
) -> None:
    """Create a back-office account."""
    now = utcnow()
    team = None
    if team_name:
        team = db.session.scalar(sa.select(Team).where(Team.name == team_name))
        if team is None:
            team = Team(name=team_name, created_at=now)
            db.session.add(team)
    try:
        user = create_user(
            email=email, name=name, password=password, role=Role(role), team=team,
            language=language, now=now,
        )
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


@click.command("create-token")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="cli", show_default=True)
@with_appcontext
def create_token_command(email: str, name: str) -> None:
    """Create an API token; the secret is printed once and never stored."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    _token, secret = create_api_token(user, name, now=utcnow())
    db.session.commit()
    click.echo(secret)


commands = (create_user_command, create_token_command)
