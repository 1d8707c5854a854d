"""REST API v1: token-authenticated JSON views, their OpenAPI document and reference page."""

from flask import Blueprint

from ticketing.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Token-authenticated, never cookie-authenticated: CSRF does not apply.
csrf.exempt(bp)

# The view modules register their routes and hooks on `bp` when imported.
from ticketing.web.api import (  # noqa: E402
    common,
    customers,
    errors,
    events,
    openapi,
    reports,
    tickets,
)

__all__ = ["bp", "common", "customers", "errors", "events", "openapi", "reports", "tickets"]
