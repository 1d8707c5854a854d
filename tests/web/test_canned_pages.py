"""Supervisor pages for canned responses: list, create, edit, preview, delete and access."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ticketing.models import CannedResponse
from ticketing.services import canned

pytestmark = pytest.mark.usefixtures("quick_password_hashing")


@pytest.fixture
def supervisor(make_user, login):
    user = make_user("supervisor", name="Sanne Supervisor")
    login(user)
    return user


@pytest.fixture
def make_canned(db_session, now):
    def factory(title: str = "Apology", language: str = "en",
                body: str = "Dear {customer_name}, sorry about {ticket_ref}.") -> CannedResponse:
        item = canned.save_canned(title=title, language=language, body=body, now=now)
        db_session.flush()
        return item

    return factory


def all_canned(db_session) -> list[tuple[str, str, str]]:
    rows = db_session.scalars(sa.select(CannedResponse).order_by(CannedResponse.id))
    return [(row.title, row.language, row.body) for row in rows]


def form_data(**overrides: str) -> dict[str, str]:
    return {"title": "Refund started", "language": "en",
            "body": "Dear {customer_name},\nthe refund for {ticket_ref} has started.\n{agent_name}",
            "intent": "save", **overrides}


# --- list ----------------------------------------------------------------------------------------


def test_the_list_groups_responses_by_language_with_a_preview(client, supervisor, make_canned):
    make_canned("Excuses", "nl", "Beste {customer_name}, excuses voor de vertraging.")
    make_canned("Apology", "en", "Sorry " + "for the long wait " * 20)

    page = client.get("/supervisor/canned/?lang=en").text

    dutch, english = page.index(">Dutch <"), page.index(">English <")
    assert dutch < page.index("Excuses") < english < page.index("Apology")
    assert "Beste {customer_name}, excuses voor de vertraging." in page
    preview = re.search(r'<td class="muted" lang="en">([^<]*)</td>', page).group(1)
    assert preview.startswith("Sorry for the long wait")
    assert preview.endswith("…")
    assert len(preview) <= 161


def test_an_empty_language_offers_to_write_the_first_one(client, supervisor, make_canned):
    make_canned("Apology", "en")

    page = client.get("/supervisor/canned/?lang=en").text

    assert "No responses in this language yet." in page
    assert 'href="/supervisor/canned/new?language=nl"' in page


def test_the_new_form_starts_in_the_language_asked_for(client, supervisor):
    page = client.get("/supervisor/canned/new?language=nl&lang=en").text

    assert '<option selected value="nl">' in page
    for name in ("{customer_name}", "{ticket_ref}", "{agent_name}"):
        assert name in page


# --- create and edit -----------------------------------------------------------------------------


def test_a_new_response_is_saved_and_flashed(client, supervisor, db_session):
    response = client.post("/supervisor/canned/new?lang=en", data=form_data())

    assert response.status_code == 302
    assert all_canned(db_session) == [
        ("Refund started", "en",
         "Dear {customer_name},\nthe refund for {ticket_ref} has started.\n{agent_name}"),
    ]
    page = client.get(response.headers["Location"]).text
    assert "Canned response “Refund started” saved." in page


def test_editing_changes_the_response_in_place(client, supervisor, db_session, make_canned):
    item = make_canned("Apology", "en", "Sorry, {customer_name}.")

    form = client.get(f"/supervisor/canned/{item.id}/edit?lang=en").text
    assert 'value="Apology"' in form
    assert "Sorry, {customer_name}." in form

    response = client.post(f"/supervisor/canned/{item.id}/edit", data=form_data(
        title="Apology for the delay", language="nl", body="Excuses, {customer_name}."))

    assert response.status_code == 302
    assert all_canned(db_session) == [("Apology for the delay", "nl", "Excuses, {customer_name}.")]
    assert db_session.get(CannedResponse, item.id).title == "Apology for the delay"


def test_an_unknown_placeholder_is_refused_and_the_text_kept(client, supervisor, db_session):
    body = "Dear {customer_name}, your order {order_number} is on its way."

    response = client.post("/supervisor/canned/new?lang=en", data=form_data(body=body))

    assert response.status_code == 422
    page = response.text
    assert "Unknown placeholder {order_number}; use {customer_name}" in page
    assert 'value="Refund started"' in page
    assert body in page
    assert all_canned(db_session) == []


def test_a_refusal_is_explained_in_dutch_on_the_dutch_page(client, supervisor, db_session,
                                                           make_canned):
    make_canned("Excuses", "nl", "Sorry.")

    response = client.post("/supervisor/canned/new?lang=nl",
                           data=form_data(title="Excuses", language="nl", body="Nogmaals."))

    assert response.status_code == 422
    assert "Er is al een standaardantwoord “Excuses” in het Nederlands." in response.text


def test_a_duplicate_title_in_the_same_language_is_refused(client, supervisor, db_session,
                                                            make_canned):
    make_canned("Apology", "en", "Sorry.")

    response = client.post("/supervisor/canned/new?lang=en",
                           data=form_data(title="Apology", body="Sorry again."))

    assert response.status_code == 422
    assert "There is already a canned response called “Apology” in English." in response.text
    assert "Sorry again." in response.text
    assert all_canned(db_session) == [("Apology", "en", "Sorry.")]


def test_renaming_onto_another_response_is_refused(client, supervisor, db_session, make_canned):
    make_canned("Apology", "en", "Sorry.")
    other = make_canned("Thanks", "en", "Thank you.")

    response = client.post(f"/supervisor/canned/{other.id}/edit",
                           data=form_data(title="Apology", body="Thank you."))

    assert response.status_code == 422
    assert db_session.get(CannedResponse, other.id).title == "Thanks"


def test_a_blank_title_is_refused_by_the_form(client, supervisor, db_session):
    response = client.post("/supervisor/canned/new?lang=en", data=form_data(title="  "))

    assert response.status_code == 422
    assert "Give the response a title." in response.text
    assert all_canned(db_session) == []


def test_preview_fills_the_placeholders_and_saves_nothing(client, supervisor, db_session):
    response = client.post("/supervisor/canned/new?lang=en", data=form_data(intent="preview"))

    assert response.status_code == 200
    assert "Dear Jan de Vries,\nthe refund for T-1042 has started.\nSanne Supervisor" in (
        response.text
    )
    assert all_canned(db_session) == []


# --- delete --------------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_first(client, supervisor, db_session, make_canned):
    item = make_canned("Apology", "en", "Sorry, {customer_name}.")

    page = client.get(f"/supervisor/canned/{item.id}/delete?lang=en").text

    assert "Delete “Apology”?" in page
    assert f'action="/supervisor/canned/{item.id}/delete"' in page
    assert db_session.get(CannedResponse, item.id) is not None


def test_delete_removes_the_response_and_flashes(client, supervisor, db_session, make_canned):
    item = make_canned("Apology", "en")
    kept = make_canned("Thanks", "en", "Thank you.")

    response = client.post(f"/supervisor/canned/{item.id}/delete?lang=en",
                           follow_redirects=True)

    assert response.status_code == 200
    assert "Canned response “Apology” deleted." in response.text
    assert all_canned(db_session) == [("Thanks", "en", "Thank you.")]
    assert db_session.get(CannedResponse, kept.id) is not None


def test_delete_needs_the_csrf_token(app, client, supervisor, db_session, make_canned,
                                     monkeypatch):
    item = make_canned("Apology", "en")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    refused = client.post(f"/supervisor/canned/{item.id}/delete")
    assert refused.status_code == 400
    assert db_session.get(CannedResponse, item.id) is not None

    page = client.get(f"/supervisor/canned/{item.id}/delete").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = client.post(f"/supervisor/canned/{item.id}/delete", data={"csrf_token": token})
    assert accepted.status_code == 302
    assert all_canned(db_session) == []


def test_an_unknown_response_is_404(client, supervisor):
    assert client.get("/supervisor/canned/987654/edit").status_code == 404
    assert client.post("/supervisor/canned/987654/delete").status_code == 404


# --- access and language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/supervisor/canned/"),
        ("GET", "/supervisor/canned/new"),
        ("POST", "/supervisor/canned/new"),
        ("GET", "/supervisor/canned/{id}/edit"),
        ("POST", "/supervisor/canned/{id}/edit"),
        ("GET", "/supervisor/canned/{id}/delete"),
        ("POST", "/supervisor/canned/{id}/delete"),
    ],
)
def test_agents_get_403(client, make_user, login, db_session, make_canned, method, path):
    item = make_canned("Apology", "en", "Sorry.")
    login(make_user("agent"))

    response = client.open(path.format(id=item.id), method=method,
                           data=form_data(title="Taken over") if method == "POST" else None)

    assert response.status_code == 403
    assert all_canned(db_session) == [("Apology", "en", "Sorry.")]


def test_the_navigation_links_the_page_for_supervisors_and_admins_only(client, make_user, login):
    login(make_user("agent"))
    assert "/supervisor/canned/" not in client.get("/?lang=en").text

    client.post("/logout")
    login(make_user("admin"))
    page = client.get("/?lang=en").text
    assert '<a href="/supervisor/canned/">Canned responses</a>' in page
    assert client.get("/supervisor/canned/").status_code == 200


def test_the_dutch_page_has_dutch_labels(client, supervisor, make_canned):
    item = make_canned("Excuses", "nl", "Beste {customer_name}, excuses.")

    index = client.get("/supervisor/canned/?lang=nl").text
    form = client.get(f"/supervisor/canned/{item.id}/edit").text

    assert "<h1>Standaardantwoorden</h1>" in index
    assert ">Nederlands <" in index
    assert ">Engels <" in index
    assert "Nieuw standaardantwoord" in index
    assert ">Titel</label>" in form
    assert ">Tekst</label>" in form
    assert "Plaatshouders die u kunt gebruiken" in form
