"""Back-office login: hashing, wrong passwords, lockout, logout, cookies, session and redirects."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pytest
from flask import g

import config
from ticketing.clock import utcnow
from ticketing.models import User

PASSWORD = "correct horse battery"


def _fresh(client):
    # The db_session fixture keeps one app context for the whole test, so requests share `g`,
    # where flask-login caches the user; forget it so every request reads its own session.
    g.pop("_login_user", None)
    return client


def _login(client, email, password=PASSWORD, **query):
    return _fresh(client).post("/login", data={"email": email, "password": password},
                               query_string=query)


def _is_signed_in(client) -> bool:
    response = _fresh(client).get("/")
    return response.status_code == 200


@pytest.fixture
def agent(make_user, quick_password_hashing):
    """An agent whose password hash is cheap: these tests are about the login flow, and a
    real scrypt check costs 0.3 s per attempt (the hashing itself is tested below)."""
    return make_user("agent")


def test_passwords_are_stored_as_scrypt_hashes(make_user):
    user = make_user("agent")

    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash


def test_right_password_signs_in(client, agent):
    response = _login(client, agent.email)

    assert response.status_code == 302
    assert _is_signed_in(client)
    assert agent.last_login_at is not None


def test_wrong_password_is_refused(client, agent):
    response = _login(client, agent.email, "wrong horse battery")

    assert response.status_code == 401
    assert 'class="flash flash-error"' in response.get_data(as_text=True)
    assert not _is_signed_in(client)
    assert agent.failed_logins == 1


def test_unknown_account_gets_the_same_answer(client, agent):
    unknown = _login(client, "nobody@example.org")
    wrong = _login(client, agent.email, "wrong horse battery")

    assert unknown.status_code == wrong.status_code == 401
    flash = re.compile(r'<p class="flash flash-error">[^<]+</p>')
    assert flash.search(unknown.get_data(as_text=True)).group(0) == flash.search(
        wrong.get_data(as_text=True)
    ).group(0)


def test_account_locks_after_the_maximum_failed_attempts(app, client, agent, monkeypatch):
    attempts = app.config["LOGIN_MAX_ATTEMPTS"]
    for _ in range(attempts):
        assert _login(client, agent.email, "wrong horse battery").status_code == 401

    locked = _login(client, agent.email)

    assert locked.status_code == 401, "even the right password is refused while locked"
    assert agent.locked_until is not None
    assert not _is_signed_in(client)


def test_lock_ends_after_the_lock_time(app, client, agent, monkeypatch):
    for _ in range(app.config["LOGIN_MAX_ATTEMPTS"]):
        _login(client, agent.email, "wrong horse battery")
    later = utcnow() + timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"], seconds=1)
    monkeypatch.setattr("ticketing.web.auth.utcnow", lambda: later)

    assert _login(client, agent.email).status_code == 302
    assert agent.failed_logins == 0
    assert agent.locked_until is None


def test_failed_attempts_below_the_limit_are_forgotten_after_a_good_login(app, client, agent):
    for _ in range(app.config["LOGIN_MAX_ATTEMPTS"] - 1):
        _login(client, agent.email, "wrong horse battery")

    assert _login(client, agent.email).status_code == 302
    assert agent.failed_logins == 0


def test_deactivated_account_cannot_sign_in(client, agent):
    agent.is_active_account = False

    assert _login(client, agent.email).status_code == 401


def test_logout_is_a_post_with_a_csrf_token(app, client, agent, monkeypatch):
    _login(client, agent.email)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    page = _fresh(client).get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)

    assert _fresh(client).get("/logout").status_code == 405
    assert _fresh(client).post("/logout").status_code == 400
    assert _is_signed_in(client), "a forged logout does nothing"
    response = _fresh(client).post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    assert response.location.endswith("/login")
    assert not _is_signed_in(client)


def test_password_change_ends_other_sessions(client, agent, db_session):
    from ticketing.services.accounts import set_password

    _login(client, agent.email)
    set_password(agent, "a brand new password")
    db_session.flush()

    assert not _is_signed_in(client)


def test_session_protection_refuses_a_cookie_from_another_browser(client, agent):
    _login(client, agent.email)
    assert _is_signed_in(client)

    stolen = _fresh(client).get("/", headers={"User-Agent": "Mozilla/5.0 (attacker)"})

    assert stolen.status_code == 302
    assert "/login" in stolen.location


def test_next_parameter_leads_back_to_the_page_asked_for(client, agent):
    response = _login(client, agent.email, next="/tickets/T-12?queue=mine")

    assert response.headers["Location"] == "/tickets/T-12?queue=mine"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "",
    ],
)
def test_next_parameter_never_leads_off_the_site(client, agent, next_url):
    response = _login(client, agent.email, next=next_url)

    assert response.status_code == 302
    location = response.headers["Location"]
    # Resolve it the way a browser does, which also reads a backslash as a slash.
    resolved = urlsplit(urljoin("https://tickets.example.org/login", location.replace("\\", "/")))
    assert (resolved.scheme, resolved.netloc) == ("https", "tickets.example.org"), location
    assert "\r" not in location
    assert "\n" not in location


def test_production_cookies_are_secure_http_only_and_same_site():
    from ticketing.app import create_app

    assert config.ProductionConfig.SESSION_COOKIE_SECURE is True
    assert config.ProductionConfig.REMEMBER_COOKIE_SECURE is True
    production = create_app(
        "production",
        SECRET_KEY="production-like-secret-for-the-cookie-test",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        # Keep the shared extensions as the rest of the suite expects them.
        HUEY_IMMEDIATE=True,
        RATELIMIT_ENABLED=False,
        RATELIMIT_STORAGE_URI="memory://",
    )

    response = production.test_client().get("/login")

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_user_model_keeps_the_session_version_in_the_session_id(agent):
    assert agent.get_id() == f"{agent.id}:{agent.session_version}"
    assert isinstance(agent, User)
