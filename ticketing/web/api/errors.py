"""Problem details (RFC 9457) for every API error, with field errors on 422."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, current_app
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ticketing.clock import utcnow
from ticketing.extensions import limiter
from ticketing.web.api import bp

PROBLEM_MIMETYPE = "application/problem+json"


class ApiProblem(HTTPException):
    """An HTTP error with the extras a problem document may carry (field errors, headers)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description=detail)
        self.code = status
        self.errors = dict(errors) if errors else None
        self.extra_headers = dict(headers or {})


def problem_response(
    status: int,
    detail: str | None,
    *,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    response = Response(current_app.json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def invalid(errors: Mapping[str, Any], detail: str = "The request has errors.") -> ApiProblem:
    return ApiProblem(422, detail, errors=errors)


@bp.errorhandler(ValidationError)
def _validation_failed(error: ValidationError) -> Response:
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return problem_response(422, "The request has errors.", errors=messages)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    # The app-wide handler renders problems too; this one keeps the headers an error carries
    # (WWW-Authenticate, Allow, Retry-After) and the field errors of an ApiProblem.
    status = error.code or 500
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }
    if status == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = str(_seconds_until_reset())
    errors = None
    if isinstance(error, ApiProblem):
        headers.update(error.extra_headers)
        errors = error.errors
    return problem_response(status, error.description, errors=errors, headers=headers)


def _seconds_until_reset() -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - utcnow().timestamp()))
