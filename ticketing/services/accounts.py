"""Back-office accounts: creation, password checks with throttling, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing.extensions import db
from ticketing.models import ApiToken, Role, Team, User

#: Checked against a dummy hash when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = generate_password_hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; the message is safe to show."""


@dataclass(frozen=True)
class LoginPolicy:
    max_attempts: int = 5
    lock_minutes: int = 15


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    # scrypt is werkzeug's default: memory-hard and tuned by the library's maintainers.
    return generate_password_hash(password, method="scrypt")


def create_user(
    *,
    email: str,
    name: str,
    password: str,
    role: Role,
    team: Team | None = None,
    language: str = "en",
    now: datetime,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError("the login must be an e-mail address")
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with login {email} exists already")
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=hash_password(password),
        role=role,
        team=team,
        language=language,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_version += 1  # every other session of this user ends


def authenticate(email: str, password: str, *, now: datetime, policy: LoginPolicy) -> User | None:
    """Return the user when the password is right and the account is not locked.

    Failed attempts are counted per account; after `max_attempts` the account is locked for
    `lock_minutes`, during which even the right password is refused.
    """
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not user.is_active_account or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= policy.max_attempts:
            user.locked_until = now + timedelta(minutes=policy.lock_minutes)
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def load_session_user(session_id: str) -> User | None:
    """Resolve flask-login's "id:version" session id to an active user."""
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.is_active_account:
        return None
    return user


def create_api_token(user: User, name: str, *, now: datetime) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the secret, which is never stored."""
    secret = "ctk_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip() or "token",
        token_hash=hash_token(secret),
        prefix=secret[:12],
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def hash_token(secret: str) -> str:
    # Tokens are long and random, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


#: how stale an API token's `last_used_at` may get before a request stamps it again
TOKEN_USE_STAMP_INTERVAL = timedelta(minutes=1)


def find_token_user(secret: str, *, now: datetime) -> User | None:
    token = db.session.scalar(
        sa.select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )
    if token is None or not token.user.is_active_account:
        return None
    # A minute is precise enough for "last used"; stamping every request would make every
    # API read a write (and a commit).
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_STAMP_INTERVAL:
        token.last_used_at = now
    return token.user
