"""The OpenAPI 3 description of /api/v1, built from the marshmallow schemas, and its HTML page."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, Response, current_app, render_template
from marshmallow import Schema, fields

from ticketing.schemas import (
    SUMMARY_FIELDS,
    CustomerDumpSchema,
    CustomerListDumpSchema,
    CustomerLookupArgsLoadSchema,
    CustomerTicketArgsLoadSchema,
    EventListArgsLoadSchema,
    EventPageDumpSchema,
    IdentityListDumpSchema,
    MessageDumpSchema,
    NoteLoadSchema,
    ProblemDumpSchema,
    ReplyLoadSchema,
    SlaPolicyDumpSchema,
    SlaPolicyListDumpSchema,
    TicketCreatedDumpSchema,
    TicketDumpSchema,
    TicketListArgsLoadSchema,
    TicketLoadSchema,
    TicketPageDumpSchema,
    TicketPatchLoadSchema,
    WebhookEventDumpSchema,
)
from ticketing.schemas.report import DashboardArgsLoadSchema, DashboardDumpSchema
from ticketing.schemas.ticket import MAX_ID
from ticketing.web.api import bp
from ticketing.web.api.errors import PROBLEM_MIMETYPE

API_TITLE = "Complaint tracker API"
API_VERSION = "1.0.0"
PREFIX = "/api/v1"

DESCRIPTION = """\
Tickets, customers, SLA clocks and policies, the supervisor dashboard and the event log of a
complaint tracker.

* **Authentication**: `Authorization: Bearer <token>`. A token acts as the user who created it,
  with that user's role (agent, supervisor, admin).
* **Errors** are `application/problem+json` (RFC 9457); validation errors are 422 with an
  `errors` object of messages by field.
* **Lists** are paginated with an opaque `cursor`: pass the previous page's `next_cursor`.
* **Instants** are ISO 8601 in UTC: `2026-01-05T12:00:00Z`. Instants you send need an offset.
* **Webhooks**: see the `WebhookEvent` schema and docs/API.md for the signature.
"""

#: names of schema views made with only=, for the component names in the document
_VIEW_NAMES = {("TicketDumpSchema", frozenset(SUMMARY_FIELDS)): "TicketSummary"}


def schema_name(schema: type[Schema] | Schema) -> str:
    """Component name: `TicketDumpSchema` -> Ticket, `TicketLoadSchema` -> TicketInput."""
    cls = resolve_schema_cls(schema)
    cls = cls[0] if isinstance(cls, list) else cls
    name = cls.__name__
    only = getattr(schema, "only", None) if isinstance(schema, Schema) else None
    if only:
        view = _VIEW_NAMES.get((name, frozenset(only)))
        if view is None:
            raise ValueError(f"name the view {sorted(only)} of {name} in _VIEW_NAMES")
        return view
    if name.endswith("DumpSchema"):
        return name[: -len("DumpSchema")]
    if name.endswith("LoadSchema"):
        return name[: -len("LoadSchema")] + "Input"
    return name.removesuffix("Schema")


@dataclass(frozen=True)
class Operation:
    """One documented operation: the view, what it takes and what it answers."""

    method: str
    path: str
    endpoint: str
    tag: str
    summary: str
    response: Schema | type[Schema] | None
    status: int = 200
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    extra_statuses: tuple[int, ...] = ()
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)


_REFERENCE = {
    "reference": {
        "description": "Ticket reference (`T-1042`) or id.",
        "schema": {"type": "string", "pattern": "^(T-)?[1-9][0-9]{0,8}$", "example": "T-1042"},
    }
}
_CUSTOMER = {
    "customer_id": {
        "description": "Customer id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
}
_POLICY = {
    "policy_id": {
        "description": "SLA policy id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
}

OPERATIONS = (
    Operation("get", "/tickets", "api.list_tickets", "Tickets", "List tickets",
              TicketPageDumpSchema, query=TicketListArgsLoadSchema, errors=(422,)),
    Operation("post", "/tickets", "api.create_ticket", "Tickets",
              "Open a ticket on behalf of a customer", TicketCreatedDumpSchema, status=201,
              body=TicketLoadSchema, errors=(400, 415, 422), extra_statuses=(200,)),
    Operation("get", "/tickets/{reference}", "api.get_ticket_detail", "Tickets",
              "Get a ticket with messages, SLA clocks and repeat facts", TicketDumpSchema,
              errors=(404,), path_params=_REFERENCE),
    Operation("patch", "/tickets/{reference}", "api.update_ticket", "Tickets",
              "Change status, priority, assignee, team or tags",
              TicketDumpSchema(only=SUMMARY_FIELDS), body=TicketPatchLoadSchema,
              errors=(400, 404, 409, 415, 422), path_params=_REFERENCE),
    Operation("post", "/tickets/{reference}/replies", "api.reply", "Tickets",
              "Reply to the customer", MessageDumpSchema, status=201, body=ReplyLoadSchema,
              errors=(400, 404, 409, 415, 422), path_params=_REFERENCE),
    Operation("post", "/tickets/{reference}/notes", "api.add_note", "Tickets",
              "Add an internal note", MessageDumpSchema, status=201, body=NoteLoadSchema,
              errors=(400, 404, 409, 415, 422), path_params=_REFERENCE),
    Operation("get", "/customers", "api.find_customers", "Customers",
              "Find customers by e-mail address or phone number", CustomerListDumpSchema,
              query=CustomerLookupArgsLoadSchema, errors=(422,)),
    Operation("get", "/customers/{customer_id}", "api.get_customer", "Customers",
              "Get a customer", CustomerDumpSchema, errors=(404,), path_params=_CUSTOMER),
    Operation("get", "/customers/{customer_id}/identities", "api.customer_identities",
              "Customers", "List a customer's addresses", IdentityListDumpSchema,
              errors=(404,), path_params=_CUSTOMER),
    Operation("get", "/customers/{customer_id}/tickets", "api.customer_tickets", "Customers",
              "List a customer's tickets", TicketPageDumpSchema,
              query=CustomerTicketArgsLoadSchema, errors=(404, 422), path_params=_CUSTOMER),
    Operation("get", "/sla-policies", "api.list_policies", "SLA", "List SLA policies",
              SlaPolicyListDumpSchema),
    Operation("get", "/sla-policies/{policy_id}", "api.get_policy", "SLA", "Get an SLA policy",
              SlaPolicyDumpSchema, errors=(404,), path_params=_POLICY),
    Operation("get", "/dashboard", "api.dashboard", "Reports", "Dashboard figures for a period",
              DashboardDumpSchema, query=DashboardArgsLoadSchema, errors=(422,)),
    Operation("get", "/events", "api.list_events", "Events", "Ticket events after a cursor",
              EventPageDumpSchema, query=EventListArgsLoadSchema, errors=(422,)),
)

_ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No token, or a token that is not valid (see WWW-Authenticate).",
    403: "The token's user lacks the role this needs.",
    404: "No such object.",
    409: "The ticket does not allow this now (for example, it was merged).",
    415: "The body is not `application/json`.",
    422: "Validation failed; `errors` has the messages by field.",
    429: "Too many requests for this token; wait for `Retry-After` seconds.",
}


def build_spec(app: Flask) -> dict[str, Any]:
    """Build the OpenAPI document for the app's API views."""
    marshmallow_plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(
        title=API_TITLE,
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[marshmallow_plugin],
        info={"description": DESCRIPTION},
        tags=[
            {"name": "Tickets", "description": "Tickets, their messages and changes."},
            {"name": "Customers", "description": "Customers and their addresses."},
            {"name": "SLA", "description": "SLA policies (read only)."},
            {"name": "Reports", "description": "Supervisor figures (supervisor role)."},
            {"name": "Events", "description": "The ticket event log as a feed."},
        ],
    )
    # Every enum in this API is stored and sent by its string value.
    marshmallow_plugin.map_to_openapi_type(fields.Enum, "string", None)
    spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "An API token of a user."},
    )
    spec.components.schema("Problem", schema=ProblemDumpSchema)
    spec.components.schema("WebhookEvent", schema=WebhookEventDumpSchema)
    problem = {PROBLEM_MIMETYPE: {"schema": ProblemDumpSchema}}
    for name, description in _ERROR_DESCRIPTIONS.items():
        spec.components.response(f"Error{name}", {"description": description, "content": problem})
    spec.components.response(
        "Error", {"description": "Any other error, as a problem document.", "content": problem}
    )

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(app, op)
    for path, operations in paths.items():
        spec.path(path=PREFIX + path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearerAuth": []}]
    return document


def _operation(app: Flask, op: Operation) -> dict[str, Any]:
    view = app.view_functions[op.endpoint]
    roles = getattr(view, "required_roles", ())
    description = inspect.getdoc(view) or op.summary
    if roles:
        description += "\n\nRole: " + " or ".join(role.value for role in roles) + " (or higher)."
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Success.",
            "content": {"application/json": {"schema": op.response}},
        }
    }
    for status in op.extra_statuses:
        responses[str(status)] = {
            "description": "Success (see the outcome).",
            "content": {"application/json": {"schema": op.response}},
        }
    for status in (401, 403, *op.errors, 429):
        responses[str(status)] = f"Error{status}"
    responses["default"] = "Error"
    parameters: list[Any] = [
        {"in": "path", "name": name, "required": True, **details}
        for name, details in op.path_params.items()
    ]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    operation: dict[str, Any] = {
        "operationId": op.endpoint.removeprefix("api."),
        "tags": [op.tag],
        "summary": op.summary,
        "description": description,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    return operation


def api_document() -> dict[str, Any]:
    """The document for the current app, built once per app."""
    document = current_app.extensions.get("api_openapi")
    if document is None:
        document = build_spec(current_app)  # type: ignore[arg-type]
        current_app.extensions["api_openapi"] = document
    return document


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3 description of this API."""
    return current_app.json.response(api_document())


@bp.get("/docs")
def reference() -> str:
    """A readable reference built from the OpenAPI document (no scripts, no CDN)."""
    from ticketing.web.api.reference import reference_context

    return render_template("integrations/api_reference.html", **reference_context(api_document()))
