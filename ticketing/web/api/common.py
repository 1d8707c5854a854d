"""What every API view shares: token authentication, role checks, parsing and answering."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from marshmallow import Schema, fields

from ticketing.clock import utcnow
from ticketing.extensions import db, limiter
from ticketing.models import Role, Ticket, User
from ticketing.schemas.ticket import MAX_ID
from ticketing.services.accounts import find_token_user
from ticketing.web.api import bp
from ticketing.web.api.errors import ApiProblem, unauthorized

F = TypeVar("F", bound=Callable[..., Any])

#: views anyone may read: the API description and its reference page
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document", "api.reference"})
#: requests per token (or per address without one), unless API_RATE_LIMIT says otherwise
DEFAULT_RATE_LIMIT = "600 per minute"


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def _rate_limit_key() -> str:
    # Counted per token, so one busy integration cannot starve another behind the same proxy.
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:24]
    return "api-ip:" + (request.remote_addr or "unknown")


def _rate_limits_off() -> bool:
    # The limiter is shared by every app in the process; ask this app's own setting.
    return not current_app.config.get("RATELIMIT_ENABLED", True)


limiter.limit(_rate_limit, key_func=_rate_limit_key, exempt_when=_rate_limits_off)(bp)


@bp.before_request
def authenticate() -> None:
    """Resolve `Authorization: Bearer <token>` to the user the token acts as."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise unauthorized("Send an API token as `Authorization: Bearer <token>`.")
    if len(secret) > 200 or not secret.isascii():
        raise unauthorized("The API token is not valid.")
    user = find_token_user(secret, now=utcnow())
    if user is None:
        raise unauthorized("The API token is not valid, revoked, or its user is deactivated.")
    if db.session.dirty:
        # find_token_user stamped last_used_at (at most once a minute); keep it even when the
        # request only reads.
        db.session.commit()
    g.api_user = user
    g.api_token_prefix = secret[:12]


def current_api_user() -> User:
    return g.api_user


def requires_role(*roles: Role) -> Callable[[F], F]:
    """Allow the view to tokens whose user has one of the roles (admins pass every check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_api_user().has_role(*roles):
                names = " or ".join(role.value for role in roles)
                raise ApiProblem(403, f"This needs the {names} role.")
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]  # read by the OpenAPI doc
        return wrapped  # type: ignore[return-value]

    return decorator


def load_args(schema: Schema) -> dict[str, Any]:
    """Load the query string through a schema; list fields take repeated parameters."""
    raw: dict[str, Any] = {}
    for name, field in schema.fields.items():
        key = field.data_key or name
        if isinstance(field, fields.List):
            values = request.args.getlist(key)
            if values:
                raw[key] = values
        elif key in request.args:
            raw[key] = request.args[key]
    return schema.load(raw)


def load_body(schema: Schema) -> dict[str, Any]:
    """Load the JSON body through a schema (415 without JSON, 400 if broken, 422 if invalid)."""
    return schema.load(request.get_json())


def respond(
    schema: Schema, obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = current_app.json.response(schema.dump(obj))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def get_ticket(reference: str) -> Ticket:
    """Load a ticket by reference ("T-1042") or id.

    :raise 404: if there is no such ticket.
    """
    ticket_id = Ticket.id_from_reference(reference)
    ticket = db.session.get(Ticket, ticket_id) if ticket_id and ticket_id <= MAX_ID else None
    if ticket is None:
        raise ApiProblem(404, f"No ticket {reference}.")
    return ticket


def get_or_404(model: type, object_id: int, what: str) -> Any:
    found = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if found is None:
        raise ApiProblem(404, f"No {what} {object_id}.")
    return found
