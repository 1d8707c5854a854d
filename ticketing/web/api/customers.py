"""/api/v1/customers: look up by address, read one, its identities and its tickets."""

from __future__ import annotations

from flask import Response, current_app

from channels.phone import normalise_phone
from ticketing.models import Customer, Role
from ticketing.schemas import (
    CustomerDumpSchema,
    CustomerListDumpSchema,
    CustomerLookupArgsLoadSchema,
    CustomerTicketArgsLoadSchema,
    IdentityListDumpSchema,
)
from ticketing.services import api_tickets
from ticketing.web.api import bp
from ticketing.web.api.common import get_or_404, load_args, requires_role, respond
from ticketing.web.api.tickets import filters_from_args, ticket_page


@bp.get("/customers")
@requires_role(Role.agent)
def find_customers() -> Response:
    """Find the customer owning an e-mail address or phone number."""
    args = load_args(CustomerLookupArgsLoadSchema())
    phone = None
    if args.get("phone"):
        try:
            phone = normalise_phone(
                args["phone"], current_app.config.get("DEFAULT_PHONE_REGION", "NL"), strict=False
            )
        except ValueError:
            phone = None  # not a number anyone could have written from: nobody owns it
    customers = api_tickets.find_customers(email=args.get("email"), phone=phone)
    return respond(CustomerListDumpSchema(), {"items": customers})


@bp.get("/customers/<int:customer_id>")
@requires_role(Role.agent)
def get_customer(customer_id: int) -> Response:
    return respond(CustomerDumpSchema(), get_or_404(Customer, customer_id, "customer"))


@bp.get("/customers/<int:customer_id>/identities")
@requires_role(Role.agent)
def customer_identities(customer_id: int) -> Response:
    """The customer's e-mail addresses and phone numbers, with SMS opt-out state."""
    customer = get_or_404(Customer, customer_id, "customer")
    return respond(IdentityListDumpSchema(), {"items": customer.identities})


@bp.get("/customers/<int:customer_id>/tickets")
@requires_role(Role.agent)
def customer_tickets(customer_id: int) -> Response:
    """The customer's tickets, newest change first (cursor pages)."""
    customer = get_or_404(Customer, customer_id, "customer")
    args = load_args(CustomerTicketArgsLoadSchema())
    args["customer"] = customer.id
    return ticket_page(filters_from_args(args), args)
