"""The agent's ticket page: one timeline, customer panel, SLA clocks, repeat badge, safe HTML."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import hand_made_ticket
from ticketing.clock import utcnow
from ticketing.domain.contact import Identity, IdentityKind
from ticketing.models import Direction, Message, SlaClock, SlaPolicy, TicketStatus
from ticketing.services import ticket_actions
from ticketing.services.events import record_event
from ticketing.web.agent import highlight_cues, link_refs, ordinal

PHONE = "+31612345678"
HOSTILE_HTML = '<p>Hallo <b>daar</b></p><script>alert("x")</script><img src="https://evil.example/t.gif">'


pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def agent(make_user, login):
    user = make_user("agent", name="Anna Agent")
    login(user)
    return user


@pytest.fixture
def ticket(receive, make_contact, now):
    contact = make_contact(
        "Mijn pakket is niet aangekomen.",
        sender="klaas@example.nl",
        name="Klaas Klant",
        other_identities=(Identity(IdentityKind.phone, PHONE),),
    )
    return receive(contact).ticket




def _page(client, ticket, **params):
    response = client.get(f"/tickets/{ticket.reference}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _add_message(db_session, ticket, *, direction, channel, text, at, identity=None, **fields):
    message = Message(
        ticket=ticket, direction=direction, channel=channel, kind="message", text=text,
        new_text=fields.pop("new_text", text), identity=identity, created_at=at, meta={},
        external_id=fields.pop("external_id", None), **fields,
    )
    db_session.add(message)
    db_session.flush()
    return message


def test_timeline_shows_every_channel_notes_and_events_in_order(
    client, db_session, agent, ticket, now
):
    phone = next(i for i in ticket.customer.identities if i.kind == "phone")
    _add_message(db_session, ticket, direction=Direction.inbound, channel="sms",
                 text="Ook per sms: waar blijft het?", at=now + timedelta(minutes=5),
                 identity=phone, external_id="SM1")
    _add_message(db_session, ticket, direction=Direction.inbound, channel="web",
                 text="Via het formulier nog een vraag", at=now + timedelta(minutes=6),
                 identity=ticket.customer.identities[0], external_id="web-1")
    ticket_actions.add_note(ticket, "Vervoerder gebeld", actor=agent,
                            now=now + timedelta(minutes=7))
    ticket_actions.set_status(ticket, TicketStatus.pending, actor=agent,
                              now=now + timedelta(minutes=8))

    html = _page(client, ticket)

    order = [
        html.index("Mijn pakket is niet aangekomen."),
        html.index("Ook per sms: waar blijft het?"),
        html.index("Via het formulier nog een vraag"),
        html.index("Vervoerder gebeld"),
        html.index("Status new → pending"),
    ]
    assert order == sorted(order)
    assert "Internal note" in html
    assert 'class="badge channel-sms"' in html
    assert 'class="badge channel-web"' in html


def test_customer_panel_lists_identities_opt_out_and_earlier_tickets(
    client, db_session, agent, ticket, receive, make_contact, now
):
    phone = next(i for i in ticket.customer.identities if i.kind == "phone")
    phone.opted_out_at = now - timedelta(days=2)
    phone.opt_out_reason = "texted 'STOP'"
    earlier = hand_made_ticket(db_session, ticket, "Vorige maand ook al",
                                now - timedelta(days=40))

    html = _page(client, ticket)

    panel = html[html.index('id="customer-title"'):]
    assert "klaas@example.nl" in panel
    assert PHONE in panel
    assert "opted out of texts since" in panel
    assert f'href="/tickets/{earlier.reference}"' in panel
    assert "opted out of texts" in html[html.index('id="reply-identity"'):]


def test_sla_clocks_show_due_time_countdown_and_explanation(
    client, db_session, agent, ticket, now
):
    db_session.execute(sa.delete(SlaClock).where(SlaClock.ticket_id == ticket.id))
    policy = SlaPolicy(name="Kantoor", calendar={"timezone": "Europe/Amsterdam", "24/7": True},
                       targets={"normal": {"first_response": 240}}, created_at=now,
                       updated_at=now)
    db_session.add(policy)
    ticket.policy = policy
    due = now + timedelta(hours=4)
    db_session.add(SlaClock(
        ticket_id=ticket.id, metric="first_response", cycle=1, state="running",
        priority="normal", started_at=now, due_at=due, elapsed_seconds=600,
        target_seconds=14400, segments=[{"kind": "start", "at": now.isoformat()}],
        is_running=True, computed_at=now,
    ))
    db_session.add(SlaClock(
        ticket_id=ticket.id, metric="resolution", cycle=1, state="breached",
        priority="normal", started_at=now - timedelta(days=3), due_at=now - timedelta(hours=1),
        breached_at=now - timedelta(hours=1), elapsed_seconds=180000, target_seconds=172800,
        segments=[], is_running=True, computed_at=now,
    ))
    db_session.flush()

    html = _page(client, ticket)

    panel = html[html.index('id="sla-title"'):html.index('id="customer-title"')]
    assert "First response" in panel
    assert "Resolution" in panel
    assert f'datetime="{due:%Y-%m-%dT%H:%M:%SZ}" data-countdown' in panel
    assert "badge-breached" in panel
    assert "overdue" in panel
    assert "Why?" in panel
    assert "started Mon 2 Mar 10:30" in panel, "explained in the calendar's timezone"
    assert "First response clock started" in html
    assert "Resolution target breached" in html


def test_repeat_badge_and_highlighted_cues(
    client, db_session, agent, ticket, receive, make_contact, now
):
    earlier = hand_made_ticket(db_session, ticket, "Eerste keer", now - timedelta(days=10))
    ticket.repeat_of = earlier
    ticket.repeat_contacts = 1
    text = "Ik schrijf <b>alweer</b> & nog steeds niets"
    _add_message(db_session, ticket, direction=Direction.inbound, channel="email", text=text,
                 at=now + timedelta(minutes=1), identity=ticket.customer.identities[0],
                 external_id="again-1",
                 again_cues=[{"start": 14, "end": 20, "match": "alweer", "kind": "again"},
                             {"start": 27, "end": 37, "match": "nog steeds", "kind": "still"}])
    ticket.contact_count = 2

    html = _page(client, ticket)

    assert "3rd contact about this" in html
    assert f'href="/tickets/{earlier.reference}"' in html[html.index('class="repeat-links"'):]
    assert ('Ik schrijf &lt;b&gt;<mark class="cue" title="again">alweer</mark>&lt;/b&gt; &amp; '
            '<mark class="cue" title="still">nog steeds</mark> niets') in html


@pytest.mark.parametrize(
    ("text", "cues", "expected"),
    [
        ("still broken", [{"start": 0, "end": 5}], '<mark class="cue">still</mark> broken'),
        ("<x>", [{"start": 0, "end": 3, "kind": '"><script>'}],
         '<mark class="cue" title="&#34;&gt;&lt;script&gt;">&lt;x&gt;</mark>'),
        ("abc", [{"start": 2, "end": 9}], "abc"),
        ("abcdef", [{"start": 0, "end": 4}, {"start": 2, "end": 5}],
         '<mark class="cue">abcd</mark>ef'),
        ("abc", [{"start": "x"}], "abc"),
        (None, None, ""),
    ],
)
def test_highlight_cues_escapes_and_distrusts_spans(text, cues, expected):
    assert str(highlight_cues(text, cues)) == expected


def test_ordinals_and_reference_links(app):
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]
    with app.test_request_context():
        assert str(link_refs("Merged into T-12 <now>")) == (
            'Merged into <a href="/tickets/T-12">T-12</a> &lt;now&gt;'
        )


def test_customer_html_is_only_shown_isolated_in_a_sandboxed_frame(
    client, db_session, agent, ticket, now
):
    message = ticket.messages[0]
    message.html = HOSTILE_HTML
    db_session.flush()

    html = _page(client, ticket)

    assert "<script>alert" not in html
    assert "evil.example" not in html
    frame = re.search(r"<iframe[^>]*>", html).group(0)
    assert " sandbox " in frame
    assert f'src="/messages/{message.id}/html"' in frame
    isolated = client.get(f"/messages/{message.id}/html")
    assert isolated.status_code == 200
    csp = isolated.headers["Content-Security-Policy"]
    assert csp.startswith(
        "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; sandbox"
    )
    assert "script-src" not in csp
    assert isolated.headers["X-Content-Type-Options"] == "nosniff"
    assert isolated.mimetype == "text/html"


def test_message_without_html_has_no_isolated_page(client, agent, ticket):
    assert client.get(f"/messages/{ticket.messages[0].id}/html").status_code == 404


def test_page_has_a_strict_csp_and_no_inline_script_or_handlers(client, agent, ticket):
    response = client.get(f"/tickets/{ticket.reference}")
    html = response.get_data(as_text=True)

    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts
    assert all('src="/static/' in tag for tag in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers"
    assert not re.search(r"""(src|href)=["']https?://""", html), "every asset from the app"


def test_reading_and_replying_need_no_javascript(client, agent, ticket):
    html = _page(client, ticket)

    form = html[html.index('id="reply-form"'):]
    form = form[:form.index("</form>")]
    assert 'method="post"' in html[html.index('<form method="post" action="/tickets/'):]
    assert 'name="csrf_token"' in form
    assert 'name="text"' in form
    assert 'name="identity_id"' in form
    assert 'name="status_after" value="pending"' in form


def test_static_assets_are_served_by_the_app(client, agent):
    for name in ("agent.js", "agent.css", "app.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        response.close()


def test_opening_the_page_marks_presence_and_shows_colleagues(
    client, db_session, agent, make_user, ticket, now
):
    colleague = make_user("agent", name="Bert Collega")
    ticket_actions.update_presence(ticket, actor=colleague, now=_wall_clock(),
                                   is_replying=True)

    html = _page(client, ticket)

    assert "Bert Collega is writing a reply" in html
    assert ticket_actions.other_viewers(ticket, actor=colleague, now=_wall_clock())[0].name \
        == "Anna Agent"


def _wall_clock():
    # Presence is judged against the view's own clock read, not the fixed test instant.
    return utcnow()


def test_presence_poll_reports_viewers_newer_messages_and_version(
    client, db_session, agent, make_user, ticket, now
):
    seen = ticket_actions.last_customer_message_id(ticket)
    first = client.post(f"/tickets/{ticket.reference}/presence", data={"seen": seen}).get_json()
    assert first["viewers"] == []
    assert first["newer_messages"] == 0

    colleague = make_user("agent", name="Bert Collega")
    ticket_actions.update_presence(ticket, actor=colleague, now=_wall_clock())
    _add_message(db_session, ticket, direction=Direction.inbound, channel="email",
                 text="Nog een vraag", at=now + timedelta(minutes=2),
                 identity=ticket.customer.identities[0], external_id="newer-1")
    record_event(ticket, "message.received", now=now + timedelta(minutes=2))
    db_session.flush()

    second = client.post(f"/tickets/{ticket.reference}/presence",
                         data={"seen": seen, "replying": "y"}).get_json()
    assert second["viewers"] == [{"name": "Bert Collega", "replying": False}]
    assert second["newer_messages"] == 1
    assert second["version"] != first["version"]
    fragments = client.get(f"/tickets/{ticket.reference}/fragments").get_json()
    assert "Nog een vraag" in fragments["timeline"]
    assert "SLA clocks" in fragments["sidebar"]
    assert ticket.reference in fragments["summary"]


def test_leaving_the_page_clears_presence(client, db_session, agent, make_user, ticket):
    colleague = make_user("agent")
    client.get(f"/tickets/{ticket.reference}")

    assert client.post(f"/tickets/{ticket.reference}/presence/leave").status_code == 204
    assert ticket_actions.other_viewers(ticket, actor=colleague, now=_wall_clock()) == []


def test_unknown_ticket_is_404(client, agent):
    assert client.get("/tickets/T-999999").status_code == 404
    assert client.get("/tickets/nonsense").status_code == 404


def test_merged_ticket_page_points_to_the_survivor(
    client, db_session, agent, ticket, receive, make_contact, now
):
    other = hand_made_ticket(db_session, ticket, "Tweede", now + timedelta(hours=1))
    ticket_actions.merge_tickets(other, ticket, actor=agent, now=now + timedelta(hours=2))

    html = _page(client, other)

    assert "This ticket was merged into" in html
    assert 'id="reply-form"' not in html
