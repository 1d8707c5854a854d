"""Agent queues: membership, deadline order, capped counts, keyset pages, search and polling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from ticketing.clock import utcnow
from ticketing.models import (
    Customer,
    CustomerIdentity,
    Direction,
    Message,
    Team,
    Ticket,
    TicketStatus,
)
from ticketing.services import queues
from ticketing.services.queues import Cursor, QueueError

pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def team(db_session, now):
    team = Team(name="Bezorging", created_at=now)
    db_session.add(team)
    db_session.flush()
    return team


@pytest.fixture
def agent(make_user, team):
    return make_user("agent", name="Anna Agent", team=team)


@pytest.fixture
def customer(db_session, now):
    customer = Customer(name="Klaas Klant", created_at=now)
    customer.identities = [
        CustomerIdentity(kind="email", address="klaas@example.nl", created_at=now),
        CustomerIdentity(kind="phone", address="+31612345678", created_at=now),
    ]
    db_session.add(customer)
    db_session.flush()
    return customer


@pytest.fixture
def make_ticket(db_session, customer, now):
    def factory(due: datetime | None = None, status: TicketStatus = TicketStatus.open,
                **fields) -> Ticket:
        ticket = Ticket(
            customer=fields.pop("customer", customer), subject=fields.pop("subject", "Pakket"),
            status=status, channel="email", next_due_at=due, opened_at=now, updated_at=now,
            **fields,
        )
        db_session.add(ticket)
        db_session.flush()
        return ticket

    return factory


def _refs(page):
    return [ticket.reference for ticket in page.tickets]


# --- queue membership and order ------------------------------------------------------------------


def test_open_queue_sorts_by_deadline_with_undated_tickets_last(make_ticket, agent, now):
    late = make_ticket(now + timedelta(hours=5))
    undated_a = make_ticket(None)
    soon = make_ticket(now + timedelta(hours=1))
    undated_b = make_ticket(None)
    overdue = make_ticket(now - timedelta(hours=2))
    make_ticket(now, status=TicketStatus.solved)

    page = queues.list_queue("open", agent, now=now)

    assert page.tickets == [overdue, soon, late, undated_a, undated_b]
    assert page.next_cursor is None


def test_each_queue_holds_its_tickets(db_session, make_ticket, make_user, agent, team, now):
    colleague = make_user("agent")
    mine = make_ticket(now + timedelta(hours=9), assignee=agent)
    theirs = make_ticket(now + timedelta(hours=8), assignee=colleague, team=team)
    nobody = make_ticket(now + timedelta(hours=7))
    at_risk = make_ticket(now + timedelta(minutes=30), next_warn_at=now - timedelta(minutes=5),
                          assignee=colleague)
    # warned at the last refresh but not yet at the warning instant: the instants decide
    make_ticket(now + timedelta(hours=3), next_warn_at=now + timedelta(hours=1),
                sla_state="at_risk", assignee=colleague)
    overdue_unswept = make_ticket(now - timedelta(minutes=1), sla_state="running",
                                  assignee=colleague)
    # breached earlier but paused now (waiting on the customer): no deadline runs out now
    make_ticket(None, sla_state="breached", assignee=colleague)
    repeat = make_ticket(now + timedelta(hours=6), repeat_contacts=1, assignee=colleague)
    linked = make_ticket(now + timedelta(hours=6), repeat_of=mine, assignee=colleague)
    make_ticket(now, status=TicketStatus.closed, assignee=agent, repeat_contacts=2)

    def queue(name):
        return set(queues.list_queue(name, agent, now=now).tickets)

    assert queue("mine") == {mine}
    assert queue("unassigned") == {nobody}
    assert queue("team") == {theirs}
    assert queue("at_risk") == {at_risk}
    assert queue("breached") == {overdue_unswept}
    assert queue("repeat") == {repeat, linked}
    assert len(queue("open")) == 9
    counts = queues.count_queues(agent, now=now)
    assert counts == {"mine": 1, "unassigned": 1, "team": 1, "at_risk": 1, "breached": 1,
                      "repeat": 2, "open": 9}


def test_team_queue_is_empty_for_an_agent_without_a_team(make_ticket, make_user, now):
    loner = make_user("agent")
    make_ticket(now)

    assert queues.list_queue("team", loner, now=now).tickets == []
    assert queues.count_queues(loner, now=now)["team"] == 0


def test_counts_stop_at_the_cap(make_ticket, agent, now):
    for _ in range(4):
        make_ticket(now)

    assert queues.count_queues(agent, now=now, cap=2)["open"] == 3  # "2+"


def test_unknown_queue_is_refused(agent, now):
    with pytest.raises(QueueError):
        queues.list_queue("everything", agent, now=now)


# --- keyset pagination --------------------------------------------------------------------------


def test_keyset_pages_cover_every_ticket_once_in_order(make_ticket, agent, now):
    base = now + timedelta(hours=1)
    expected = [make_ticket(base + timedelta(microseconds=7 * i)) for i in range(5)]
    expected.insert(2, make_ticket(base + timedelta(microseconds=7)))  # tie on the deadline
    expected[1:3] = sorted(expected[1:3], key=lambda t: t.id)
    expected += [make_ticket(None) for _ in range(4)]

    seen, after = [], None
    while True:
        page = queues.list_queue("open", agent, now=now, after=after, limit=3)
        seen += page.tickets
        if page.next_cursor is None:
            break
        after = page.next_cursor

    assert seen == expected


def test_a_ticket_changing_while_paging_is_not_shown_twice(db_session, make_ticket, agent, now):
    tickets = [make_ticket(now + timedelta(hours=i)) for i in range(4)]
    first = queues.list_queue("open", agent, now=now, limit=2)
    tickets[0].next_due_at = now + timedelta(hours=10)  # moved behind the page boundary
    db_session.flush()

    second = queues.list_queue("open", agent, now=now, after=first.next_cursor, limit=2)

    assert first.tickets == tickets[:2]
    assert second.tickets == [tickets[2], tickets[3]]


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor("due", 42, datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)),
        Cursor("due", 1, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        Cursor("none", 7),
        Cursor("recent", 9),
    ],
)
def test_cursors_round_trip_exactly(cursor):
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", "x", "d12", "d1.2.3", "n.", "q.1", "d1e5.4"])
def test_malformed_cursors_are_refused(text):
    with pytest.raises(QueueError):
        Cursor.decode(text)


def test_neighbours_follow_the_queue_order(make_ticket, agent, now):
    first = make_ticket(now + timedelta(hours=1))
    second = make_ticket(now + timedelta(hours=2))
    undated = make_ticket(None)

    assert queues.neighbours("open", agent, first, now=now) == (None, second.id)
    assert queues.neighbours("open", agent, second, now=now) == (first.id, undated.id)
    assert queues.neighbours("open", agent, undated, now=now) == (second.id, None)


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T-12", {"ticket_id": 12}),
        ("#12", {"ticket_id": 12}),
        ("t12", {"ticket_id": 12}),
        ("Klaas@Example.NL", {"email": "klaas@example.nl"}),
        ("06 1234 5678", {"phone": "+31612345678"}),
        ("+31 6 12345678", {"phone": "+31612345678"}),
        ("pakket kwijt", {}),
    ],
)
def test_search_terms_are_recognised(text, expected):
    terms = queues.parse_search(text)
    found = {key: value for key in ("ticket_id", "email", "phone")
             if (value := getattr(terms, key)) is not None}
    assert found == expected


def test_search_finds_by_reference_address_phone_name_and_words(
    db_session, make_ticket, customer, now
):
    other = Customer(name="Petra Pieters", created_at=now)
    db_session.add(other)
    db_session.flush()
    klaas_old = make_ticket(None, status=TicketStatus.closed, subject="Factuur")
    klaas_new = make_ticket(now, subject="Pakket")
    petra = make_ticket(now, customer=other, subject="Storing")
    words = "Mijn router knippert oranje"
    db_session.add(Message(ticket=petra, direction=Direction.inbound, channel="email",
                           text=words, new_text=words, created_at=now, meta={}))
    db_session.flush()

    def search(text):
        return queues.search_tickets(text).tickets

    assert search(klaas_old.reference) == [klaas_old]
    assert search("klaas@example.nl") == [klaas_new, klaas_old], "newest first, any status"
    assert search("06-12345678") == [klaas_new, klaas_old]
    assert search("petra") == [petra]
    assert search("router") == [petra]
    assert search("factuur") == [klaas_old]
    assert search("100%_") == []
    assert queues.count_search("klaas@example.nl") == 2


def test_search_pages_by_id(make_ticket, now):
    tickets = [make_ticket(now, subject=f"Retour {i}") for i in range(5)]

    first = queues.search_tickets("retour", limit=2)
    second = queues.search_tickets("retour", limit=2, after=first.next_cursor)
    third = queues.search_tickets("retour", limit=2, after=second.next_cursor)

    assert first.tickets + second.tickets + third.tickets == tickets[::-1]
    assert third.next_cursor is None


# --- the pages ----------------------------------------------------------------------------------


def test_queue_page_shows_tabs_counts_rows_and_next_page_link(
    client, login, make_ticket, agent, monkeypatch
):
    monkeypatch.setattr(queues, "PAGE_SIZE", 2)
    wall = utcnow()
    soon = make_ticket(wall + timedelta(hours=1), subject="Eerste <script>")
    later = make_ticket(wall + timedelta(hours=2))
    last = make_ticket(wall + timedelta(hours=3))
    login(agent)

    response = client.get("/?queue=open")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert html.index(f">{soon.reference}</a>") < html.index(f">{later.reference}</a>")
    assert f">{last.reference}</a>" not in html
    assert "Eerste &lt;script&gt;" in html
    assert re.search(r'data-queue-count="open">3<', html)
    assert 'aria-current="page"' in html
    next_link = re.search(r'href="(/\?queue=open&amp;after=[^"]+)"', html).group(1)
    page_two = client.get(next_link.replace("&amp;", "&")).get_data(as_text=True)
    assert f">{last.reference}</a>" in page_two
    assert f">{soon.reference}</a>" not in page_two


def test_queue_json_returns_counts_and_rows_for_live_updates(client, login, make_ticket, agent):
    ticket = make_ticket(utcnow() + timedelta(hours=1), assignee=agent)
    login(agent)

    data = client.get("/queue.json?queue=mine").get_json()

    assert data["queue"] == "mine"
    assert data["counts"]["mine"] == 1
    assert data["tickets"] == [ticket.reference]
    assert f'href="/tickets/{ticket.reference}?queue=mine"' in data["rows_html"]


def test_search_page(client, login, make_ticket, agent):
    ticket = make_ticket(None, subject="Retourlabel kwijt")
    login(agent)

    html = client.get("/?q=retourlabel").get_data(as_text=True)

    assert ticket.reference in html
    assert "Search results for" in html


def test_bad_cursor_is_a_400(client, login, agent):
    login(agent)

    assert client.get("/?queue=open&after=garbage").status_code == 400
    assert client.get("/?queue=nope").status_code == 400


def test_ticket_page_links_to_the_neighbours_in_its_queue(client, login, make_ticket, agent):
    wall = utcnow()
    first = make_ticket(wall + timedelta(hours=1))
    second = make_ticket(wall + timedelta(hours=2))
    login(agent)

    html = client.get(f"/tickets/{first.reference}?queue=open").get_data(as_text=True)

    assert f'data-next-url="/tickets/{second.reference}?queue=open"' in html
    assert "data-previous-url" not in html


def test_search_count_says_more_when_a_common_word_fills_the_message_cap(
    db_session, make_ticket, now, monkeypatch
):
    monkeypatch.setattr(queues, "SEARCH_SCAN_LIMIT", 3)
    ticket = make_ticket(now)
    for number in range(4):
        db_session.add(Message(ticket=ticket, direction=Direction.inbound, channel="email",
                               text=f"bestelling {number}", new_text=f"bestelling {number}",
                               created_at=now, meta={}))
    db_session.flush()

    assert queues.search_tickets("bestelling").tickets == [ticket]
    assert queues.count_search("bestelling", cap=10) == 11


def test_breached_queue_pages_stop_at_the_first_ticket_not_yet_due(make_ticket, agent, now):
    overdue = [make_ticket(now - timedelta(hours=5 - i)) for i in range(5)]
    make_ticket(now + timedelta(minutes=1))
    make_ticket(None)

    first = queues.list_queue("breached", agent, now=now, limit=2)
    second = queues.list_queue("breached", agent, now=now, limit=2, after=first.next_cursor)
    third = queues.list_queue("breached", agent, now=now, limit=2, after=second.next_cursor)

    assert first.tickets + second.tickets + third.tickets == overdue
    assert third.next_cursor is None
    exact = queues.list_queue("breached", agent, now=now, limit=5)
    assert exact.tickets == overdue
    assert exact.next_cursor is None, "no link to an empty page"
