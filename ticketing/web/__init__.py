"""Blueprints by audience: auth, agent, supervisor, admin, public, inbound, api, dev."""

from flask import Flask

from ticketing.models import Role


def register_web(app: Flask) -> None:
    """Register every blueprint and the template helpers they share."""
    from ticketing.web import (
        admin,
        agent,
        api,
        auth,
        canned,
        dev,
        health,
        inbound_email,
        inbound_sms,
        public,
        rules,
        supervisor,
    )
    from ticketing.web.api.backoffice import backoffice_bp
    from ticketing.web.filters import register_filters

    register_filters(app)
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["supervisor_nav"] = supervisor.NAV
    for module in (
        health, auth, agent, supervisor, rules, canned, admin, public, inbound_email, inbound_sms,
        dev, api,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(backoffice_bp)
