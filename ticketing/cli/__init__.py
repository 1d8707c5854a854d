"""Flask CLI command groups; each command is a thin entry point that commits."""

from flask import Flask


def register_commands(app: Flask) -> None:
    """Add every command group to `flask`."""
    from ticketing.cli import accounts, again, demo, email, escalations, sla, worker
    from ticketing.webhook_delivery import webhooks_group

    for command in (
        *accounts.commands,
        again.again_cues_command,
        demo.seed_demo_command,
        email.email_group,
        escalations.escalations_group,
        sla.sla_group,
        worker.worker_command,
        worker.outbox_group,
        webhooks_group,
    ):
        app.cli.add_command(command)
