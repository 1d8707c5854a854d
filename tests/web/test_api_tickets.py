"""REST API tickets: list with filters and cursors, create through intake, read, change, reply."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.support.api_client import api_headers  # noqa: F401 - fixture
from ticketing.models import (
    InboundRecord,
    OutboxMessage,
    Priority,
    Team,
    Ticket,
    TicketEvent,
    TicketStatus,
)

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def headers(api_headers):  # noqa: F811
    return api_headers()


@pytest.fixture
def tickets(receive, make_contact, now):
    """Three tickets of three customers, opened an hour apart."""
    made = []
    for number in range(3):
        contact = make_contact(
            f"Klacht nummer {number}", sender=f"klant{number}@example.nl",
            at=now + timedelta(hours=number),
        )
        made.append(receive(contact).ticket)
    return made


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    return body


def test_list_tickets_pages_by_cursor_without_gaps_or_repeats(client, headers, tickets):
    seen = []
    cursor = None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/tickets", query_string=query, headers=headers)
        assert response.status_code == 200
        page = response.get_json()
        seen += [item["reference"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t.reference for t in reversed(tickets)]


def test_list_tickets_sorted_oldest_first_for_sync(client, headers, tickets):
    response = client.get(
        "/api/v1/tickets", query_string={"sort": "updated_at"}, headers=headers
    )
    assert [i["reference"] for i in response.get_json()["items"]] == [
        t.reference for t in tickets
    ]


def test_list_tickets_filters_status_priority_and_updated_since(
    client, headers, tickets, db_session, now
):
    tickets[0].status = TicketStatus.pending
    tickets[1].priority = Priority.urgent
    db_session.flush()
    by_status = client.get(
        "/api/v1/tickets", query_string={"status": ["pending", "solved"]}, headers=headers
    ).get_json()
    assert [i["reference"] for i in by_status["items"]] == [tickets[0].reference]
    by_priority = client.get(
        "/api/v1/tickets", query_string={"priority": "urgent"}, headers=headers
    ).get_json()
    assert [i["reference"] for i in by_priority["items"]] == [tickets[1].reference]
    since = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = client.get(
        "/api/v1/tickets", query_string={"updated_since": since}, headers=headers
    ).get_json()
    assert {i["reference"] for i in recent["items"]} == {t.reference for t in tickets[1:]}


def test_list_tickets_filters_assignee_me_and_none(client, make_user, api_headers, tickets,  # noqa: F811
                                                   db_session):
    agent = make_user("agent")
    tickets[2].assignee = agent
    db_session.flush()
    mine = client.get(
        "/api/v1/tickets", query_string={"assignee": "me"}, headers=api_headers(agent)
    ).get_json()
    assert [i["reference"] for i in mine["items"]] == [tickets[2].reference]
    unassigned = client.get(
        "/api/v1/tickets", query_string={"assignee": "none"}, headers=api_headers(agent)
    ).get_json()
    assert len(unassigned["items"]) == 2


def test_list_tickets_refuses_a_naive_instant_and_a_foreign_cursor(client, headers, tickets):
    naive = client.get(
        "/api/v1/tickets", query_string={"updated_since": "2026-03-02T10:00:00"}, headers=headers
    )
    assert "updated_since" in _problem(naive, 422)["errors"]
    page = client.get("/api/v1/tickets", query_string={"limit": 1}, headers=headers).get_json()
    other_sort = client.get(
        "/api/v1/tickets",
        query_string={"cursor": page["next_cursor"], "sort": "opened_at"},
        headers=headers,
    )
    assert "cursor" in _problem(other_sort, 422)["errors"]
    garbage = client.get("/api/v1/tickets", query_string={"cursor": "%%%"}, headers=headers)
    assert "cursor" in _problem(garbage, 422)["errors"]


def test_get_ticket_has_messages_clocks_repeat_facts_and_utc_instants(
    client, headers, tickets, make_user, now
):
    from ticketing.services import ticket_actions

    ticket = tickets[0]
    ticket_actions.add_note(ticket, "Intern: bel de vervoerder", actor=make_user(), now=now)
    response = client.get(f"/api/v1/tickets/{ticket.reference}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["reference"] == ticket.reference
    assert [m["direction"] for m in body["messages"]][:1] == ["in"]
    assert "note" in [m["direction"] for m in body["messages"]]
    assert {"contact_count", "repeat_contacts", "again_mentions", "repeat_of"} <= set(body)
    assert body["contact_count"] == 1
    assert body["repeat_detections"] == []
    assert body["repeated_by"] == []
    assert isinstance(body["clocks"], list)
    assert UTC_Z.match(body["opened_at"])
    assert UTC_Z.match(body["messages"][0]["created_at"])
    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).status_code == 200


def test_get_ticket_unknown_or_absurd_reference_is_404(client, headers):
    _problem(client.get("/api/v1/tickets/T-999999", headers=headers), 404)
    _problem(client.get("/api/v1/tickets/T-99999999999", headers=headers), 404)
    _problem(client.get("/api/v1/tickets/nonsense", headers=headers), 404)


def test_create_ticket_goes_through_intake_and_keeps_the_raw_request(
    client, headers, db_session
):
    team = Team(name="Bezorging")
    db_session.add(team)
    db_session.flush()
    response = client.post(
        "/api/v1/tickets",
        json={
            "customer": {"name": "Piet Klant", "email": "Piet@Example.NL", "phone": "0612345678"},
            "subject": "Pakket kwijt",
            "text": "Mijn pakket is al een week onderweg.",
            "order_number": "A-1001",
            "external_id": "shop-42",
            "priority": "high",
            "team_id": team.id,
            "tags": ["Shop", "bezorging"],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["outcome"] == "created"
    ticket = body["ticket"]
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{ticket['reference']}")
    assert ticket["priority"] == "high"
    assert ticket["team"]["name"] == "Bezorging"
    assert ticket["tags"] == ["bezorging", "shop"]
    assert ticket["messages"][0]["text"] == "Mijn pakket is al een week onderweg."
    assert ticket["messages"][0]["address"] == "piet@example.nl"
    record = db_session.scalar(sa.select(InboundRecord).where(InboundRecord.channel == "api"))
    assert record is not None
    assert record.ticket_id == ticket["id"]
    assert b"shop-42" in record.payload
    assert record.outcome == "created"


def test_create_ticket_twice_with_one_external_id_is_a_no_op(client, headers, db_session):
    payload = {"customer": {"email": "jan@example.nl"}, "text": "Kapot", "external_id": "x-1"}
    first = client.post("/api/v1/tickets", json=payload, headers=headers)
    second = client.post("/api/v1/tickets", json=payload, headers=headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.get_json()["outcome"] == "duplicate"
    assert second.get_json()["ticket"]["id"] == first.get_json()["ticket"]["id"]
    assert db_session.scalar(sa.select(sa.func.count(Ticket.id))) == 1


def test_create_ticket_acknowledges_only_when_asked(client, headers, db_session):
    client.post(
        "/api/v1/tickets", json={"customer": {"email": "a@example.nl"}, "text": "Stil"},
        headers=headers,
    )
    assert db_session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    answer = client.post(
        "/api/v1/tickets",
        json={"customer": {"email": "b@example.nl"}, "text": "Graag bevestiging",
              "acknowledge": True},
        headers=headers,
    ).get_json()
    assert answer["tracking_url"].startswith("https://tickets.example.org/track/")
    assert db_session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.purpose == "acknowledgement"
        )
    ) == 1


def test_create_ticket_validation_errors_are_422_by_field(client, headers, db_session):
    response = client.post(
        "/api/v1/tickets",
        json={"customer": {}, "text": "   ", "priority": "sky-high", "colour": "red"},
        headers=headers,
    )
    errors = _problem(response, 422)["errors"]
    assert set(errors) == {"customer", "text", "priority", "colour"}
    bad_phone = client.post(
        "/api/v1/tickets", json={"customer": {"phone": "0612"}, "text": "Hallo"}, headers=headers
    )
    phone_errors = _problem(bad_phone, 422)["errors"]
    assert phone_errors == {"customer": {"phone": ["Not a valid phone number."]}}
    no_team = client.post(
        "/api/v1/tickets",
        json={"customer": {"email": "c@example.nl"}, "text": "Hallo", "team_id": 999999},
        headers=headers,
    )
    assert "team_id" in _problem(no_team, 422)["errors"]
    # Refused requests are the client's to fix: nothing is stored for them.
    assert db_session.scalar(sa.select(sa.func.count(InboundRecord.id))) == 0


def test_create_ticket_needs_json(client, headers):
    _problem(client.post("/api/v1/tickets", data="text=hi", headers=headers), 415)
    broken = client.post(
        "/api/v1/tickets", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    _problem(broken, 400)


def test_patch_ticket_records_each_change_as_an_event(
    client, headers, tickets, make_user, db_session
):
    ticket = tickets[0]
    agent = make_user("agent")
    team = Team(name="Retouren")
    db_session.add(team)
    db_session.flush()
    response = client.patch(
        f"/api/v1/tickets/{ticket.reference}",
        json={"status": "pending", "priority": "urgent", "assignee_id": agent.id,
              "team_id": team.id, "tags": ["retour"]},
        headers=headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["status"], body["priority"], body["assignee"]["id"], body["team"]["id"]) == (
        "pending", "urgent", agent.id, team.id
    )
    assert body["tags"] == ["retour"]
    types = set(db_session.scalars(
        sa.select(TicketEvent.type).where(TicketEvent.ticket_id == ticket.id)
    ))
    assert {"status.changed", "priority.changed", "assignment.changed", "tags.changed"} <= types
    unassign = client.patch(
        f"/api/v1/tickets/{ticket.reference}", json={"assignee_id": None}, headers=headers
    )
    assert unassign.get_json()["assignee"] is None
    assert unassign.get_json()["team"]["id"] == team.id


def test_patch_ticket_refuses_nothing_unknown_people_and_merged_tickets(
    client, headers, tickets, db_session
):
    ticket = tickets[0]
    assert "_schema" in _problem(
        client.patch(f"/api/v1/tickets/{ticket.reference}", json={}, headers=headers), 422
    )["errors"]
    assert "assignee_id" in _problem(
        client.patch(
            f"/api/v1/tickets/{ticket.reference}", json={"assignee_id": 999999}, headers=headers
        ),
        422,
    )["errors"]
    ticket.merged_into_id = tickets[1].id
    db_session.flush()
    _problem(
        client.patch(
            f"/api/v1/tickets/{ticket.reference}", json={"status": "solved"}, headers=headers
        ),
        409,
    )


def test_reply_queues_an_outbound_message_and_stops_first_response(
    client, headers, tickets, db_session
):
    ticket = tickets[0]
    response = client.post(
        f"/api/v1/tickets/{ticket.reference}/replies",
        json={"text": "We zoeken het uit.", "status": "pending"},
        headers=headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    message = response.get_json()
    assert message["direction"] == "out"
    assert message["channel"] == "email"
    assert message["address"] == "klant0@example.nl"
    assert message["delivery_state"] in ("queued", "sent")
    db_session.refresh(ticket)
    assert ticket.status == TicketStatus.pending
    assert ticket.first_responded_at is not None
    assert db_session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.purpose == "reply")
    ) == 1


def test_note_is_internal(client, headers, tickets, db_session):
    response = client.post(
        f"/api/v1/tickets/{tickets[0].reference}/notes", json={"text": "Klant is boos"},
        headers=headers,
    )
    assert response.status_code == 201
    assert response.get_json()["direction"] == "note"
    assert db_session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.purpose == "reply")
    ) == 0
    empty = client.post(
        f"/api/v1/tickets/{tickets[0].reference}/notes", json={"text": ""}, headers=headers
    )
    assert "text" in _problem(empty, 422)["errors"]
