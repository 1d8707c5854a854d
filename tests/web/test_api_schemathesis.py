"""The API against its own OpenAPI document: schemathesis generates requests for every operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.support.api_client import api_headers  # noqa: F401 - fixture
from ticketing.domain.contact import Identity, IdentityKind
from ticketing.models import SlaPolicy
from ticketing.services import ticket_actions

#: generated requests per operation: enough to reach odd corners, small enough for two databases
EXAMPLES = 12
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def seeded(db_session, receive, make_contact, make_user, now):
    """A ticket with a reply, a note and a phone identity, and one SLA policy."""
    contact = make_contact(
        "Mijn abonnement is alweer niet verlengd.", sender="klant@example.nl",
        other_identities=(Identity(IdentityKind.phone, "+31612345678"),),
    )
    ticket = receive(contact).ticket
    agent = make_user("agent")
    settings_ = ticket_actions.OutboundSettings()
    ticket_actions.reply(ticket, "We kijken ernaar.", actor=agent, now=now, settings=settings_)
    ticket_actions.add_note(ticket, "Terugbellen", actor=agent, now=now)
    policy = SlaPolicy(
        name="Standaard", calendar={"timezone": "Europe/Amsterdam", "24/7": True},
        targets={"normal": {"first_response": 240}}, created_at=now, updated_at=now,
    )
    db_session.add(policy)
    db_session.flush()
    return {"ticket": ticket, "customer": ticket.customer, "policy": policy}


@pytest.fixture
def schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def _run_generated(operation, headers):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_generated_requests_never_fail_the_server_or_the_document(
    schema, seeded, api_headers  # noqa: F811
):
    headers = api_headers(role="admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 14
    for operation in operations:
        _run_generated(operation, headers)


def test_success_answers_match_the_document(schema, seeded, api_headers):  # noqa: F811
    headers = api_headers(role="admin")
    reference = seeded["ticket"].reference
    customer = seeded["customer"].id
    cases = [
        ("/api/v1/tickets", "GET", {}, {"status": ["new", "open"]}, None),
        ("/api/v1/tickets/{reference}", "GET", {"reference": reference}, {}, None),
        ("/api/v1/tickets/{reference}", "PATCH", {"reference": reference},
         {}, {"priority": "high", "tags": ["api"]}),
        ("/api/v1/tickets/{reference}/notes", "POST", {"reference": reference}, {},
         {"text": "Via de API"}),
        ("/api/v1/tickets/{reference}/replies", "POST", {"reference": reference}, {},
         {"text": "Antwoord via de API", "status": "pending"}),
        ("/api/v1/tickets", "POST", {}, {},
         {"customer": {"email": "nieuw@example.nl", "name": "Nieuw"}, "text": "Kapot"}),
        ("/api/v1/customers", "GET", {}, {"email": "klant@example.nl"}, None),
        ("/api/v1/customers/{customer_id}", "GET", {"customer_id": customer}, {}, None),
        ("/api/v1/customers/{customer_id}/identities", "GET", {"customer_id": customer}, {},
         None),
        ("/api/v1/customers/{customer_id}/tickets", "GET", {"customer_id": customer}, {}, None),
        ("/api/v1/sla-policies", "GET", {}, {}, None),
        ("/api/v1/sla-policies/{policy_id}", "GET", {"policy_id": seeded["policy"].id}, {},
         None),
        ("/api/v1/dashboard", "GET", {}, {}, None),
        ("/api/v1/events", "GET", {}, {"limit": 5}, None),
    ]
    for path, method, path_parameters, query, body in cases:
        operation = schema[path][method]
        kwargs = {"path_parameters": path_parameters, "query": query}
        if body is not None:
            kwargs["body"] = body
        case = operation.Case(**kwargs)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        assert response.status_code < 300, (method, path, response.text)
