"""Every route of the app, requested by every role and by an anonymous visitor.

The expected access comes from where a route lives, not from the route itself, so a new route
is checked the moment it is registered:

- public pages, health, login/logout and provider webhooks are open (the webhooks check their
  own signatures, which no role changes);
- /admin, /dev and webhook settings are for admins; /supervisor for supervisors and admins;
- /api/v1 takes only a bearer token (a session is not enough), with the roles a view declares;
- everything else is the agent back office: any signed-in user.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask, g
from werkzeug.routing import Rule

from ticketing.models import Role

ROLES = (Role.agent, Role.supervisor, Role.admin)
RANK = {Role.agent: 1, Role.supervisor: 2, Role.admin: 3}
PASSWORD = "correct horse battery"

#: the most specific prefix wins
ACCESS_BY_PREFIX = (
    ("/api/v1/", "token"),
    ("/settings/integrations/webhooks", "admin"),
    ("/admin", "admin"),
    ("/dev/", "admin"),
    ("/supervisor", "supervisor"),
    ("/inbound/", "open"),
)
OPEN_BLUEPRINTS = frozenset({"health", "auth", "public", "inbound_email", "inbound_sms"})
#: API views anyone may read: the description of the API itself
OPEN_API_ENDPOINTS = frozenset({"api.openapi_document", "api.reference"})
#: login/logout behave differently for a signed-in user by design
ROLE_DEPENDENT_OPEN = frozenset({"auth.login", "auth.logout"})


pytestmark = pytest.mark.usefixtures("quick_password_hashing")


def expected_access(rule: Rule) -> str:
    """"open", "token", "agent", "supervisor" or "admin" for a route."""
    if rule.endpoint in OPEN_API_ENDPOINTS:
        return "open"
    for prefix, access in ACCESS_BY_PREFIX:
        if rule.rule.startswith(prefix) or rule.rule == prefix.rstrip("/"):
            return access
    blueprint = rule.endpoint.rpartition(".")[0]
    if rule.endpoint == "static" or blueprint in OPEN_BLUEPRINTS:
        return "open"
    return "agent"


def sample_url(app: Flask, rule: Rule) -> str:
    """Fill a rule's arguments with values that name nothing that exists."""
    values: dict[str, Any] = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if kind == "IntegerConverter":
            values[name] = 987654
        elif kind == "UUIDConverter":
            values[name] = uuid.UUID("00000000-0000-4000-8000-000000000000")
        elif kind == "PathConverter":
            values[name] = "app.css"
        elif name == "reference":
            values[name] = "T-987654"
        else:
            values[name] = "no-such-" + name
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, values, method=None)


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in response.headers.get(
        "Location", ""
    )


def _allowed(response) -> bool:
    return response.status_code not in (401, 403) and not _is_login_redirect(response)


def _denied_anonymous(response) -> bool:
    return response.status_code == 401 or _is_login_redirect(response)


def _request(client, method: str, url: str, headers: dict[str, str] | None = None):
    # The db_session fixture keeps one app context pushed for the whole test, so requests share
    # `g`, where flask-login caches the user: forget it, or one client would act as another.
    g.pop("_login_user", None)
    try:
        response = client.open(url, method=method, headers=headers or {})
    except Exception as error:  # noqa: BLE001 - reported as a finding, not a crash of the walk
        return error
    response.close()  # only the status and headers matter; static files hold a file open
    return response


def _routes(app: Flask) -> list[tuple[Rule, str]]:
    pairs = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    # Logging out ends the session the rest of the walk uses: do it last.
    return sorted(pairs, key=lambda pair: (pair[0].endpoint == "auth.logout", pair[0].rule))


@pytest.fixture
def signed_in(app, db_session, make_user, now):
    """A signed-in client and an API token for every role."""
    from ticketing.services.accounts import create_api_token

    clients, tokens = {}, {}
    for role in ROLES:
        user = make_user(role.value)
        client = app.test_client()
        g.pop("_login_user", None)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        clients[role] = client
        tokens[role] = create_api_token(user, "route walk", now=now)[1]
    db_session.flush()
    return clients, tokens


def test_every_route_enforces_its_roles(app, db_session, signed_in):
    clients, tokens = signed_in
    anonymous = app.test_client()
    findings: list[str] = []

    for rule, method in _routes(app):
        access = expected_access(rule)
        url = sample_url(app, rule)
        where = f"{method} {rule.rule} ({rule.endpoint}, expected {access})"
        anon = _request(anonymous, method, url)
        if isinstance(anon, Exception):
            findings.append(f"{where}: anonymous request raised {anon!r}")
            continue
        if anon.status_code >= 500:
            findings.append(f"{where}: anonymous got {anon.status_code}")

        if access == "open":
            if _is_login_redirect(anon) and rule.endpoint != "auth.logout":
                findings.append(f"{where}: anonymous was sent to the login page")
        elif access == "token":
            if anon.status_code != 401:
                findings.append(f"{where}: anonymous got {anon.status_code}, wanted 401")
        elif not _denied_anonymous(anon):
            findings.append(f"{where}: anonymous got {anon.status_code}, wanted login")

        for role in ROLES:
            response = _request(clients[role], method, url)
            label = f"{where}: {role.value}"
            if isinstance(response, Exception):
                findings.append(f"{label} request raised {response!r}")
                continue
            if response.status_code >= 500:
                findings.append(f"{label} got {response.status_code}")
            if access == "open":
                if rule.endpoint not in ROLE_DEPENDENT_OPEN and (
                    response.status_code != anon.status_code
                ):
                    findings.append(
                        f"{label} got {response.status_code}, anonymous {anon.status_code}: "
                        "an open route should not depend on the role"
                    )
                continue
            if access == "token":
                findings.extend(_check_api(app, clients[role], method, url, rule, role,
                                           tokens[role], label, response))
                continue
            wanted = RANK[role] >= RANK[Role(access)]
            if wanted and not _allowed(response):
                findings.append(f"{label} got {response.status_code}, should be allowed")
            if not wanted and response.status_code != 403:
                findings.append(f"{label} got {response.status_code}, wanted 403")

    assert not findings, "\n".join(findings)


def _check_api(app, client, method, url, rule, role, token, label, session_response):
    findings = []
    if session_response.status_code != 401:
        findings.append(f"{label} with only a session got {session_response.status_code}, "
                        "wanted 401")
    response = _request(client, method, url, {"Authorization": f"Bearer {token}"})
    if isinstance(response, Exception):
        return [*findings, f"{label} with a token raised {response!r}"]
    view = app.view_functions[rule.endpoint]
    required = getattr(view, "required_roles", (Role.agent,))
    wanted = any(RANK[role] >= RANK[needed] for needed in required)
    if response.status_code >= 500:
        findings.append(f"{label} with a token got {response.status_code}")
    elif wanted and response.status_code in (401, 403):
        findings.append(f"{label} with a token got {response.status_code}, should be allowed")
    elif not wanted and response.status_code != 403:
        findings.append(f"{label} with a token got {response.status_code}, wanted 403")
    return findings


def test_the_walk_covers_every_blueprint(app):
    blueprints = {rule.endpoint.rpartition(".")[0] for rule in app.url_map.iter_rules()}
    walked = {rule.endpoint.rpartition(".")[0] for rule, _method in _routes(app)}

    assert walked == blueprints
    assert {"agent", "auth", "admin", "dev", "supervisor"} <= blueprints


@pytest.mark.parametrize(
    ("path", "endpoint", "expected"),
    [
        ("/tickets/<reference>", "agent.ticket", "agent"),
        ("/", "agent.queue", "agent"),
        ("/admin/inbound", "admin.inbound", "admin"),
        ("/dev/outbox", "dev.outbox", "admin"),
        ("/supervisor/rules/", "rules.index", "supervisor"),
        ("/api/v1/tickets", "api.list_tickets", "token"),
        ("/api/v1/openapi.json", "api.openapi_document", "open"),
        ("/inbound/twilio/sms", "inbound_sms.twilio_sms", "open"),
        ("/login", "auth.login", "open"),
        ("/healthz", "health.healthz", "open"),
        ("/static/<path:filename>", "static", "open"),
        ("/settings/integrations/", "integrations.index", "agent"),
        ("/settings/integrations/webhooks/new", "integrations.new_webhook", "admin"),
    ],
)
def test_expected_access_by_location(path, endpoint, expected):
    assert expected_access(Rule(path, endpoint=endpoint)) == expected
