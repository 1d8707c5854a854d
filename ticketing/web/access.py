"""Access helpers shared by views: role checks and loading objects or 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from ticketing.extensions import db
from ticketing.models import Role, Ticket

F = TypeVar("F", bound=Callable[..., Any])


def role_required(*roles: Role) -> Callable[[F], F]:
    """Require a logged-in user with at least one of the roles (admins pass every check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def get_ticket_or_404(reference: str | int) -> Ticket:
    """Load a ticket by id or reference such as "T-1042".

    :raise 404: if no such ticket exists.
    """
    ticket_id = reference if isinstance(reference, int) else Ticket.id_from_reference(reference)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        abort(404)
    return ticket
