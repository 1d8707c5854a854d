"""The agent back office in Chromium: queue, mail and SMS replies, notes, assign, solve, merge."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
AGENT = "anna@example.org"
COLLEAGUE = "bert@example.org"
ADMIN = "admin@example.org"
PHONE = "+31612345678"
#: Would change the page title if anything in the customer's HTML could run.
HOSTILE_HTML = (
    "<p>Zie de <b>foto</b> hieronder.</p>"
    "<img src=\"x\" onerror=\"parent.document.title='pwned'\">"
    "<script>parent.document.title='pwned'</script>"
)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def _add_ticket(customer: Any, identity: Any, *, channel: str, subject: str, text: str,
                at: Any, html: str | None = None, due_in: timedelta | None = None) -> Any:
    """A ticket with one customer message, shaped as intake leaves it."""
    from ticketing.extensions import db
    from ticketing.models import Direction, Message, Ticket, TicketStatus
    from ticketing.services.events import record_event

    ticket = Ticket(customer=customer, subject=subject, status=TicketStatus.new, channel=channel,
                    opened_at=at, updated_at=at, last_customer_message_at=at, contact_count=1,
                    next_due_at=at + due_in if due_in else None,
                    sla_state="running" if due_in else None)
    db.session.add(ticket)
    db.session.flush()
    message = Message(ticket=ticket, direction=Direction.inbound, channel=channel,
                      kind="message", external_id=f"{channel}-{ticket.id}@seed",
                      rfc_message_id=f"seed-{ticket.id}@example.nl" if channel == "email" else None,
                      identity=identity, subject=subject if channel == "email" else None,
                      text=text, new_text=text, html=html, created_at=at, meta={})
    db.session.add(message)
    db.session.flush()
    record_event(ticket, "ticket.created", now=at, channel=channel)
    record_event(ticket, "message.received", now=at, message=message, channel=channel)
    return ticket


def _seed(app: Any) -> None:
    from ticketing.clock import utcnow
    from ticketing.extensions import db
    from ticketing.models import CannedResponse, Customer, CustomerIdentity, Role, Team
    from ticketing.services.accounts import create_user

    now = utcnow()
    team = Team(name="Bezorging", created_at=now)
    db.session.add(team)
    create_user(email=AGENT, name="Anna Agent", password=PASSWORD, role=Role.agent, team=team,
                now=now)
    create_user(email=COLLEAGUE, name="Bert Collega", password=PASSWORD, role=Role.agent,
                team=team, now=now)
    create_user(email=ADMIN, name="Ada Admin", password=PASSWORD, role=Role.admin, now=now)
    customer = Customer(name="Klaas Klant", language="nl", created_at=now)
    email = CustomerIdentity(kind="email", address="klaas@example.nl", created_at=now)
    phone = CustomerIdentity(kind="phone", address=PHONE, created_at=now)
    customer.identities = [email, phone]
    db.session.add(customer)
    db.session.add(CannedResponse(
        title="Excuses", language="nl", created_at=now,
        body="Beste {customer_name},\n\nExcuses voor het ongemak met {ticket_ref}.\n\n{agent_name}",
    ))
    _add_ticket(customer, email, channel="email", subject="Pakket niet aangekomen",
                text="Mijn pakket is niet aangekomen.", html=HOSTILE_HTML,
                at=now - timedelta(hours=3), due_in=timedelta(hours=4))
    _add_ticket(customer, phone, channel="sms", subject="Waar blijft mijn pakket?",
                text="Waar blijft mijn pakket?", at=now - timedelta(hours=2),
                due_in=timedelta(hours=5))
    _add_ticket(customer, email, channel="web", subject="Factuur klopt niet",
                text="Er staat een dubbele regel op mijn factuur.", at=now - timedelta(hours=1),
                due_in=timedelta(hours=6))


@pytest.fixture
def live_server_seed(monkeypatch):
    from werkzeug.security import generate_password_hash

    from ticketing.services import accounts

    # Three scrypt hashes cost a second per test; these tests are about the back office.
    monkeypatch.setattr(accounts, "generate_password_hash", lambda password, method="": (
        generate_password_hash(password, method="pbkdf2:sha256:1000")
    ))
    return _seed


def _log_in(page: Any, live_server: Any, email: str = AGENT) -> None:
    page.goto(live_server.url("/login"))
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator(".topbar .who")).to_be_visible()


def _scripts_ready(page: Any) -> None:
    """Wait until agent.js has set the page up (it reveals the shortcut help button)."""
    expect(page.locator("[data-open-shortcuts]").first).to_be_visible()


def _csp_violations(console_messages: list[Any]) -> list[str]:
    return [m.text for m in console_messages if "Content Security Policy" in m.text]


def _receive(live_server: Any, text: str, *, ticket_id: int | None = None) -> None:
    """A customer message arriving while the browser has the page open."""
    from sqlalchemy.exc import OperationalError

    for attempt in range(5):
        try:
            _write_message(live_server, text, ticket_id)
            return
        except OperationalError:
            # SQLite refuses a write that began as a read while the server's polls write.
            if attempt == 4:
                raise
            time.sleep(0.2)


def _write_message(live_server: Any, text: str, ticket_id: int | None) -> None:
    from ticketing.clock import utcnow
    from ticketing.extensions import db
    from ticketing.models import Customer, Direction, Message, Ticket
    from ticketing.services.events import record_event

    with live_server.app.app_context():
        now = utcnow()
        customer = db.session.query(Customer).one()
        email = customer.identities[0]
        if ticket_id is None:
            _add_ticket(customer, email, channel="email", subject="Nieuw: retourlabel",
                        text=text, at=now, due_in=timedelta(minutes=30))
        else:
            ticket = db.session.get(Ticket, ticket_id)
            message = Message(ticket=ticket, direction=Direction.inbound, channel="email",
                              kind="message", external_id=f"late-{now.timestamp()}@seed",
                              identity=email, text=text, new_text=text, created_at=now, meta={})
            db.session.add(message)
            db.session.flush()
            ticket.last_customer_message_at = now
            record_event(ticket, "message.received", now=now, message=message, channel="email")
        db.session.commit()


def test_agent_logs_in_and_works_the_queue_by_keyboard(
    live_server, page, screenshot, console_messages
):
    _log_in(page, live_server)

    rows = page.locator("#queue-rows tr.queue-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Pakket niet aangekomen")
    expect(page.locator('[data-queue-count="open"]')).to_have_text("3")
    _scripts_ready(page)
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    screenshot("queue")
    with page.expect_navigation():
        page.keyboard.press("o")

    expect(page).to_have_url(re.compile(r"/tickets/T-1\?queue=open$"))
    expect(page.locator("#ticket-summary h1")).to_contain_text("Pakket niet aangekomen")
    _scripts_ready(page)
    with page.expect_navigation():
        page.keyboard.press("j")
    expect(page).to_have_url(re.compile(r"/tickets/T-2\?queue=open$"))
    _scripts_ready(page)
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    expect(page.locator("#shortcuts-help")).to_contain_text("Assign the ticket to me")
    screenshot("shortcuts")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("u")
    expect(page).to_have_url(re.compile(r"/\?queue=open$"))
    _scripts_ready(page)
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("factuur")
    page.keyboard.press("Enter")
    expect(page.locator("#queue-rows tr.queue-row")).to_have_count(1)
    assert _csp_violations(console_messages) == []


def test_queue_updates_without_a_reload(live_server, page):
    page.clock.install()
    _log_in(page, live_server)
    expect(page.locator("#queue-rows tr.queue-row")).to_have_count(3)
    # The rows are in the server's HTML; the poll starts only once agent.js has run, and time
    # moved on before that would never fire it (this failed once on a loaded machine).
    _scripts_ready(page)

    _receive(live_server, "Ik heb nog geen retourlabel gekregen.")
    page.clock.run_for(16_000)

    expect(page.locator("#queue-rows tr.queue-row")).to_have_count(4)
    expect(page.locator("#queue-rows")).to_contain_text("Nieuw: retourlabel")
    expect(page.locator('[data-queue-count="open"]')).to_have_text("4")


def test_agent_replies_by_email_and_by_sms_and_the_outbox_shows_both(
    live_server, page, new_page, screenshot, console_messages
):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-1"))

    # Mail, the channel the customer used, with a canned response filled in.
    expect(page.locator("#reply-identity")).to_have_value(re.compile(r"\d+"))
    assert "klaas@example.nl" in page.locator("#reply-identity option:checked").inner_text()
    page.locator("#reply-canned").select_option(label="[nl] Excuses")
    expect(page.locator("#reply-text")).to_have_value(re.compile(r"^Beste Klaas Klant,"))
    expect(page.locator("#reply-text")).to_have_value(re.compile(r"T-1\.\n\nAnna Agent$"))
    page.locator("#send-reply").click()
    expect(page.locator(".flash-success")).to_contain_text("Reply sent by e-mail")

    # Then a text to their phone, with the segment counter live.
    phone_option = page.locator("#reply-identity option[data-kind=phone]")
    page.locator("#reply-identity").select_option(phone_option.get_attribute("value"))
    page.locator("#reply-text").fill("Uw pakket wordt morgen bezorgd. Groet, Anna €")
    expect(page.locator("#sms-counter")).to_be_visible()
    expect(page.locator("#sms-counter")).to_contain_text("1 SMS segment(s) · GSM-7")
    page.locator("#reply-text").fill("Uw pakket wordt morgen bezorgd ✓ " * 3)
    expect(page.locator("#sms-counter")).to_contain_text("2 SMS segment(s) · UCS-2")
    page.locator("#reply-text").fill("Uw pakket wordt morgen bezorgd.")
    expect(page.locator("#sms-counter")).to_contain_text("1 SMS segment(s)")
    screenshot("sms-reply")
    page.locator("#send-pending").click()
    expect(page.locator(".flash-success")).to_contain_text("Reply sent by SMS to +31612345678")
    expect(page.locator("#ticket-summary")).to_contain_text("pending")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Excuses voor het ongemak met T-1.")
    expect(timeline).to_contain_text("Uw pakket wordt morgen bezorgd.")
    screenshot("replied")

    admin = new_page()
    _log_in(admin, live_server, ADMIN)
    admin.goto(live_server.url("/dev/outbox"))
    rows = admin.locator("table tbody tr")
    expect(rows.filter(has_text="klaas@example.nl").filter(has_text="Excuses")).to_have_count(1)
    expect(rows.filter(has_text=PHONE).filter(has_text="morgen bezorgd")).to_have_count(1)
    screenshot("dev-outbox", admin)
    assert _csp_violations(console_messages) == []


def test_texting_an_opted_out_number_is_refused_and_the_draft_kept(live_server, page):
    from ticketing.clock import utcnow
    from ticketing.extensions import db
    from ticketing.models import CustomerIdentity

    with live_server.app.app_context():
        phone = db.session.query(CustomerIdentity).filter_by(address=PHONE).one()
        phone.opted_out_at = utcnow()
        phone.opt_out_reason = "texted 'STOP'"
        db.session.commit()
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-2"))

    expect(page.locator(".customer-panel")).to_contain_text("opted out of texts since")
    page.locator("#reply-text").fill("Mag ik u bellen?")
    page.locator("#send-reply").click()

    expect(page.locator("#reply-error")).to_contain_text("opted out of text messages")
    expect(page.locator("#reply-text")).to_have_value("Mag ik u bellen?")


def test_agent_adds_a_note_takes_the_ticket_and_solves_it_by_keyboard(
    live_server, page, screenshot
):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-3?queue=open"))
    _scripts_ready(page)

    page.keyboard.press("n")
    expect(page.locator("#note-text")).to_be_focused()
    page.keyboard.type("Klant heeft ook gebeld; factuur wordt gecorrigeerd.")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    expect(page.locator(".flash-success")).to_contain_text("Note added.")
    expect(page.locator("#timeline .msg-note")).to_contain_text("factuur wordt gecorrigeerd")

    # Each shortcut submits a form: wait for the page it leads to, or the next key would land
    # on the old page (whose live update may already show the change).
    _scripts_ready(page)
    with page.expect_navigation():
        page.keyboard.press("a")
    expect(page.locator(".flash-success")).to_contain_text("The ticket is yours.")
    expect(page.locator("#ticket-summary")).to_contain_text("assigned to Anna Agent")
    _scripts_ready(page)
    with page.expect_navigation():
        page.keyboard.press("s")
    expect(page.locator(".flash-success")).to_contain_text("Status set to solved.")
    expect(page.locator("#ticket-summary .badge").first).to_have_text("solved")
    expect(page.locator("#timeline")).to_contain_text("Status new → solved")
    screenshot("solved")


def test_assign_to_a_colleague_with_the_form(live_server, page):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-1"))

    page.locator("#assignee").select_option(label="Bert Collega")
    page.locator("#assign-form button[type=submit]").click()

    expect(page.locator("#ticket-summary")).to_contain_text("assigned to Bert Collega")
    expect(page.locator("#timeline")).to_contain_text("Assigned to Bert Collega")


def test_agent_merges_two_tickets_of_the_customer(live_server, page, screenshot):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-2"))

    page.locator("#merge-into").fill("T-1")
    page.locator("#merge").click()

    expect(page).to_have_url(re.compile(r"/tickets/T-1$"))
    expect(page.locator(".flash-success")).to_contain_text("T-2 was merged into this ticket.")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Waar blijft mijn pakket?")
    expect(timeline).to_contain_text("Mijn pakket is niet aangekomen.")
    expect(timeline).to_contain_text("T-2 merged into this ticket")
    screenshot("merged")
    page.goto(live_server.url("/tickets/T-2"))
    expect(page.locator(".banner-merged")).to_contain_text("This ticket was merged into")
    expect(page.locator("#reply-form")).to_have_count(0)


def test_colleagues_see_each_other_and_a_late_customer_message_needs_confirmation(
    live_server, page, new_page, screenshot
):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-1"))
    colleague = new_page()
    _log_in(colleague, live_server, COLLEAGUE)
    colleague.goto(live_server.url("/tickets/T-1"))
    expect(colleague.locator("#collision")).to_contain_text("Anna Agent is viewing this ticket")

    page.locator("#reply-text").fill("Wij sturen een nieuw pakket.")
    _receive(live_server, "Laat maar, de buren hadden het!", ticket_id=1)
    page.locator("#send-reply").click()

    expect(page.locator("#newer-warning")).to_contain_text("The customer wrote again")
    expect(page.locator("#newer-warning")).to_contain_text("Laat maar, de buren hadden het!")
    expect(page.locator("#reply-text")).to_have_value("Wij sturen een nieuw pakket.")
    screenshot("collision")
    page.locator("#reply-confirm").check()
    page.locator("#send-reply").click()
    expect(page.locator(".flash-success")).to_contain_text("Reply sent")


def test_ticket_page_updates_without_a_reload_and_keeps_the_draft(live_server, page):
    page.clock.install()
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-1"))
    _scripts_ready(page)  # the poll starts with agent.js (see the queue test above)
    page.locator("#reply-text").fill("Half af concept")

    _receive(live_server, "Hallo, nog nieuws over mijn pakket?", ticket_id=1)
    page.clock.run_for(11_000)

    expect(page.locator("#news")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Hallo, nog nieuws over mijn pakket?")
    expect(page.locator("#reply-text")).to_have_value("Half af concept")


def test_customer_html_stays_in_its_sandbox(live_server, page, console_messages):
    _log_in(page, live_server)
    page.goto(live_server.url("/tickets/T-1"))
    title = page.title()

    page.locator(".msg-html summary").click()
    frame_element = page.locator("iframe.customer-html")
    expect(frame_element).to_have_attribute("sandbox", "")
    frame = page.frame_locator("iframe.customer-html")
    expect(frame.locator("b")).to_have_text("foto")
    page.wait_for_timeout(300)

    assert page.title() == title != "pwned"
