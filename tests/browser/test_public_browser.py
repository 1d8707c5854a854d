"""The complaint form and the tracking page in Chromium: languages, errors, keyboard, replies."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser

#: A 1x1 PNG, enough for the attachment checks (they read the file's first bytes).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def _csp_violations(console_messages: list[Any]) -> list[str]:
    return [m.text for m in console_messages if "Content Security Policy" in m.text]


def _fill_complaint(page: Any, *, labels: dict[str, str], message: str) -> None:
    page.get_by_label(labels["name"]).fill("Anna de Vries")
    page.get_by_label(labels["email"]).fill("anna@example.nl")
    page.get_by_label(labels["phone"]).fill("06 12345678")
    page.get_by_label(labels["category"]).select_option("delivery")
    page.get_by_label(labels["order"]).fill("ORD-2026-0042")
    page.get_by_label(labels["message"], exact=True).fill(message)


def test_a_dutch_customer_on_a_phone_corrects_errors_and_gets_a_reference(
    live_server, new_page, screenshot, console_messages
):
    page = new_page(locale="nl-NL", viewport={"width": 390, "height": 844}, is_mobile=True,
                    has_touch=True)
    response = page.goto(live_server.url("/complaint"))
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dien een klacht in")
    # Nothing is wider than a phone screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_label("Uw naam").fill("Anna de Vries")
    page.get_by_label("Uw bericht", exact=True).fill("Mijn pakket is niet bezorgd.")
    page.get_by_role("button", name="Klacht versturen").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(2)
    expect(page.get_by_label("Uw naam")).to_have_value("Anna de Vries")
    expect(page.get_by_label("Uw bericht", exact=True)).to_have_value(
        "Mijn pakket is niet bezorgd."
    )
    expect(page.get_by_label("E-mailadres")).to_have_attribute("aria-invalid", "true")
    screenshot("nl-mobile-errors")

    page.get_by_label("E-mailadres").fill("anna@example.nl")
    page.get_by_label("Telefoonnummer").fill("06 12345678")
    page.get_by_label("Waar gaat uw klacht over?").select_option("delivery")
    page.get_by_label("Bijlagen").set_input_files(
        [{"name": "pakket.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.get_by_role("button", name="Klacht versturen").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Bedankt, wij hebben uw klacht ontvangen"
    )
    reference = page.locator(".reference").inner_text()
    assert re.fullmatch(r"T-\d+", reference)
    expect(page.locator("#tracking-link")).to_have_attribute(
        "href", re.compile(re.escape(live_server.url("/track/")) + r"[\w-]{40,}")
    )
    screenshot("nl-mobile-received")
    assert _csp_violations(console_messages) == []


def test_the_form_works_with_the_keyboard_alone_and_skips_the_honeypot(live_server, page):
    page.goto(live_server.url("/complaint?lang=en"))
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    order = []
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        order.append(focused)
        if focused == "BUTTON":
            break
    assert order == [
        "name", "email", "phone", "category", "order_number", "message", "attachments", "BUTTON"
    ]
    assert "website" not in order


def test_the_language_switch_changes_the_page_and_remembers_it(live_server, page):
    page.goto(live_server.url("/complaint"))  # the context's browser says en-GB
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit a complaint")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Nederlands").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dien een klacht in")
    expect(page.get_by_label("Waar gaat uw klacht over?").locator("option[value=billing]")
           ).to_have_text("Factuur of betaling")
    page.goto(live_server.url("/complaint"))
    expect(page.locator("html")).to_have_attribute("lang", "nl")


def test_a_customer_follows_the_complaint_and_replies_with_a_file(
    live_server, page, screenshot, console_messages
):
    page.goto(live_server.url("/complaint?lang=en"))
    _fill_complaint(
        page,
        labels={"name": "Your name", "email": "E-mail address", "phone": "Phone number",
                "category": "What is your complaint about?", "order": "Order or reference number",
                "message": "Your message"},
        message="The parcel never arrived.",
    )
    page.get_by_role("button", name="Send complaint").click()
    reference = page.locator(".reference").inner_text()
    screenshot("received")

    page.locator("#tracking-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Your complaint {reference}")
    expect(page.locator(".status")).to_have_text("Received")
    expect(page.locator(".conversation")).to_contain_text("The parcel never arrived.")
    _add_agent_reply_and_note(live_server.app, reference)

    response = page.reload()
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    expect(page.locator(".conversation")).to_contain_text("Could you send a photo of the label?")
    expect(page.locator(".conversation")).not_to_contain_text("internal: customer is VIP")

    page.get_by_label("Your reply").fill("Here is the photo. I am still waiting.")
    page.get_by_label("Attachments").set_input_files(
        [{"name": "label.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash-success")).to_contain_text("Your reply has been added")
    latest = page.locator("#latest")
    expect(latest).to_contain_text("Here is the photo. I am still waiting.")
    expect(latest.get_by_role("link", name="label.png")).to_be_visible()
    screenshot("tracking-after-reply")
    assert _csp_violations(console_messages) == []


def test_an_unknown_tracking_link_gets_a_friendly_404(live_server, page):
    response = page.goto(live_server.url("/track/not-a-real-token?lang=en"))
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We cannot find this page")


def _add_agent_reply_and_note(app: Any, reference: str) -> None:
    from ticketing.clock import utcnow
    from ticketing.extensions import db
    from ticketing.models import Direction, Message, Ticket

    with app.app_context():
        ticket = db.session.get(Ticket, Ticket.id_from_reference(reference))
        identity = ticket.customer.identities[0]
        now = utcnow()
        db.session.add_all([
            Message(ticket=ticket, direction=Direction.note, channel="web",
                    text="internal: customer is VIP", new_text="", created_at=now),
            Message(ticket=ticket, direction=Direction.outbound, channel="email",
                    identity=identity, text="Could you send a photo of the label?",
                    new_text="", created_at=now),
        ])
        db.session.commit()
        db.session.remove()
