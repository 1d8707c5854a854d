"""REST API: tokens and roles, problems, customers, SLA policies, dashboard, events, the docs."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.api_client import api_headers  # noqa: F401 - fixture
from ticketing.domain.contact import Identity, IdentityKind
from ticketing.models import ApiToken, SlaPolicy, TicketEvent

PHONE = "+31612345678"


@pytest.fixture
def headers(api_headers):  # noqa: F811
    return api_headers()


@pytest.fixture
def ticket(receive, make_contact):
    contact = make_contact(
        "De wasmachine lekt.", sender="klaas@example.nl", name="Klaas Klant",
        other_identities=(Identity(IdentityKind.phone, PHONE),),
    )
    return receive(contact).ticket


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()


# --- authentication and roles ------------------------------------------------------------------


def test_request_without_token_is_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/tickets")
    body = _problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ctk_wrong", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500, "Bearer tökén"],
)
def test_bad_tokens_are_401(client, authorization):
    _problem(client.get("/api/v1/tickets", headers={"Authorization": authorization}), 401)


def test_token_use_is_stamped_at_most_once_a_minute(
    client, api_headers, make_user, db_session  # noqa: F811
):
    from datetime import timedelta

    user = make_user("agent")
    headers = api_headers(user)
    assert client.get("/api/v1/sla-policies", headers=headers).status_code == 200
    token = db_session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    first = token.last_used_at
    assert first is not None
    assert client.get("/api/v1/sla-policies", headers=headers).status_code == 200
    db_session.refresh(token)
    assert token.last_used_at == first  # a read within the minute writes nothing
    token.last_used_at = first - timedelta(minutes=2)
    db_session.flush()
    assert client.get("/api/v1/sla-policies", headers=headers).status_code == 200
    db_session.refresh(token)
    assert token.last_used_at > first - timedelta(minutes=2)


def test_revoked_token_and_deactivated_user_are_refused(
    client, api_headers, make_user, db_session, now  # noqa: F811
):
    user = make_user("agent")
    headers = api_headers(user)
    assert client.get("/api/v1/sla-policies", headers=headers).status_code == 200
    token = db_session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.last_used_at is not None
    user.is_active_account = False
    db_session.flush()
    _problem(client.get("/api/v1/sla-policies", headers=headers), 401)
    user.is_active_account = True
    token.revoked_at = now
    db_session.flush()
    _problem(client.get("/api/v1/sla-policies", headers=headers), 401)


def test_dashboard_needs_a_supervisor_token(client, api_headers):  # noqa: F811
    body = _problem(client.get("/api/v1/dashboard", headers=api_headers(role="agent")), 403)
    assert "supervisor" in body["detail"]
    response = client.get("/api/v1/dashboard", headers=api_headers(role="supervisor"))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_unknown_api_path_and_method_are_problems(client, headers):
    _problem(client.get("/api/v1/nothing-here", headers=headers), 404)
    response = client.delete("/api/v1/tickets", headers=headers)
    _problem(response, 405)


# --- customers ---------------------------------------------------------------------------------


def test_customer_with_identities_and_tickets(client, headers, ticket):
    customer = ticket.customer
    body = client.get(f"/api/v1/customers/{customer.id}", headers=headers).get_json()
    assert body["name"] == "Klaas Klant"
    assert {(i["kind"], i["address"]) for i in body["identities"]} == {
        ("email", "klaas@example.nl"), ("phone", PHONE)
    }
    identities = client.get(
        f"/api/v1/customers/{customer.id}/identities", headers=headers
    ).get_json()
    assert len(identities["items"]) == 2
    tickets = client.get(f"/api/v1/customers/{customer.id}/tickets", headers=headers).get_json()
    assert [t["reference"] for t in tickets["items"]] == [ticket.reference]
    assert tickets["next_cursor"] is None
    _problem(client.get("/api/v1/customers/999999", headers=headers), 404)
    _problem(client.get("/api/v1/customers/99999999999/tickets", headers=headers), 404)


def test_find_customer_by_email_or_phone(client, headers, ticket):
    by_email = client.get(
        "/api/v1/customers", query_string={"email": "KLAAS@example.nl"}, headers=headers
    ).get_json()
    assert [c["id"] for c in by_email["items"]] == [ticket.customer_id]
    by_phone = client.get(
        "/api/v1/customers", query_string={"phone": "06 1234 5678"}, headers=headers
    ).get_json()
    assert [c["id"] for c in by_phone["items"]] == [ticket.customer_id]
    nobody = client.get(
        "/api/v1/customers", query_string={"email": "x@example.nl"}, headers=headers
    ).get_json()
    assert nobody["items"] == []
    _problem(client.get("/api/v1/customers", headers=headers), 422)


# --- SLA policies ------------------------------------------------------------------------------


def test_sla_policies_in_evaluation_order(client, headers, db_session, now):
    for position, name in ((2, "Standaard"), (1, "VIP")):
        db_session.add(
            SlaPolicy(
                name=name, position=position, calendar={"timezone": "Europe/Amsterdam",
                                                        "24/7": True},
                targets={"normal": {"first_response": 60}}, created_at=now, updated_at=now,
            )
        )
    db_session.flush()
    body = client.get("/api/v1/sla-policies", headers=headers).get_json()
    names = [p["name"] for p in body["items"]]
    assert names.index("VIP") < names.index("Standaard")
    vip = next(p for p in body["items"] if p["name"] == "VIP")
    one = client.get(f"/api/v1/sla-policies/{vip['id']}", headers=headers).get_json()
    assert one["targets"] == {"normal": {"first_response": 60}}
    assert one["created_at"].endswith("Z")


# --- dashboard ---------------------------------------------------------------------------------


def test_dashboard_for_a_period(client, api_headers, ticket, now):  # noqa: F811
    headers = api_headers(role="supervisor")
    start = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(
        "/api/v1/dashboard", query_string={"from": start, "to": end}, headers=headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["period"]["start"] == start
    assert body["repeats"]["tickets"] == 1
    assert {row["metric"] for row in body["hit_rates"]} == {
        "first_response", "next_response", "resolution"
    }
    wrong = client.get(
        "/api/v1/dashboard", query_string={"from": end, "to": start}, headers=headers
    )
    assert "to" in _problem(wrong, 422)["errors"]
    half = client.get("/api/v1/dashboard", query_string={"from": start}, headers=headers)
    _problem(half, 422)


# --- events ------------------------------------------------------------------------------------


def test_events_after_a_cursor_and_polling_with_it(client, headers, ticket, db_session, make_user,
                                                   now):
    from ticketing.services import ticket_actions

    first = client.get("/api/v1/events", query_string={"limit": 2}, headers=headers).get_json()
    assert len(first["items"]) == 2
    assert first["has_more"] is True
    rest = client.get(
        "/api/v1/events", query_string={"cursor": first["next_cursor"]}, headers=headers
    ).get_json()
    total = db_session.scalar(sa.select(sa.func.count(TicketEvent.id)))
    assert len(first["items"]) + len(rest["items"]) == total
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert ids == sorted(ids)
    assert rest["has_more"] is False
    # Nothing new: the same cursor comes back, ready for the next poll.
    idle = client.get(
        "/api/v1/events", query_string={"cursor": rest["next_cursor"]}, headers=headers
    ).get_json()
    assert idle["items"] == []
    assert idle["next_cursor"] == rest["next_cursor"]
    ticket_actions.add_note(ticket, "Nieuw", actor=make_user(), now=now)
    db_session.flush()
    later = client.get(
        "/api/v1/events", query_string={"cursor": rest["next_cursor"]}, headers=headers
    ).get_json()
    assert [e["type"] for e in later["items"]] == ["note.added"]
    assert later["items"][0]["ticket"] == ticket.reference


def test_events_filtered_by_ticket_and_type(client, headers, ticket):
    body = client.get(
        "/api/v1/events",
        query_string={"ticket": ticket.reference, "type": ["ticket.created", "message.received"]},
        headers=headers,
    ).get_json()
    assert [e["type"] for e in body["items"]] == ["ticket.created", "message.received"]
    _problem(client.get("/api/v1/events", query_string={"cursor": "bm9wZQ"}, headers=headers), 422)


def test_events_wait_for_recent_ones_to_settle(client, headers, ticket, db_session):
    from ticketing.clock import utcnow

    # An event stamped just now may still be joined by a lower id from a slower transaction.
    db_session.add(TicketEvent(ticket_id=ticket.id, at=utcnow(), type="note.added", data={}))
    db_session.flush()
    body = client.get(
        "/api/v1/events", query_string={"ticket": ticket.reference}, headers=headers
    ).get_json()
    assert "note.added" not in [e["type"] for e in body["items"]]


# --- the description and its page ----------------------------------------------------------------


def test_openapi_document_is_public_and_describes_every_operation(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
    }
    assert ("POST", "/api/v1/tickets") in operations
    assert ("GET", "/api/v1/events") in operations
    assert len(operations) == 14
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "WebhookEvent" in document["components"]["schemas"]


def test_reference_page_lists_endpoints_and_schemas_without_scripts(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/api/v1/tickets/{reference}/replies" in page
    assert 'id="schema-TicketSummary"' in page
    assert "<script" not in page


def test_rate_limit_is_per_token_and_answers_a_problem_with_retry_after(tmp_path):
    from ticketing.app import create_app
    from ticketing.extensions import db, limiter

    was_enabled = limiter.enabled
    app = create_app("test", RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                     API_RATE_LIMIT="2 per minute", SQLALCHEMY_DATABASE_URI="sqlite://",
                     ATTACHMENT_STORAGE_PATH=str(tmp_path))
    try:
        limiter.reset()
        with app.app_context():
            db.create_all()
        client = app.test_client()
        one = {"Authorization": "Bearer ctk_one"}
        assert [client.get("/api/v1/events", headers=one).status_code for _ in range(2)] == [
            401, 401
        ]
        blocked = client.get("/api/v1/events", headers=one)
        assert _problem(blocked, 429)["title"] == "Too Many Requests"
        assert int(blocked.headers["Retry-After"]) >= 1
        other = client.get("/api/v1/events", headers={"Authorization": "Bearer ctk_two"})
        assert other.status_code == 401
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with app.app_context():
            db.engine.dispose()


def test_every_api_route_is_in_the_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in (
            "api.openapi_document", "api.reference"
        ):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented
