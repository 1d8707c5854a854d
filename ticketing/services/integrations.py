"""API tokens as the back office manages them: who may see and revoke which token."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ticketing.extensions import db
from ticketing.models import ApiToken, Role, User


class TokenError(ValueError):
    """A token action the user may not take; the message is safe to show."""


def tokens_of(user: User) -> list[ApiToken]:
    """The user's own tokens, newest first (revoked ones included, for the record)."""
    return list(
        db.session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def active_tokens_of_others(user: User, *, limit: int = 200) -> list[ApiToken]:
    """Every other user's unrevoked tokens (admins only: to revoke a leaver's tokens)."""
    if not user.has_role(Role.admin):
        return []
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id != user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
            .limit(limit)
        )
    )


def revoke_token(token: ApiToken, *, actor: User, now: datetime) -> bool:
    """Revoke a token at once; return whether it was still active.

    Raises:
        TokenError: the token is someone else's and the actor is not an admin.
    """
    if token.user_id != actor.id and not actor.has_role(Role.admin):
        raise TokenError("you can only revoke your own tokens")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    return True
