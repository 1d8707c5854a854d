"""Finding customers by their addresses, and linking addresses given together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ticketing.domain.contact import Identity
from ticketing.extensions import db
from ticketing.models import Customer, CustomerIdentity
from ticketing.services import intake_cache


@dataclass(frozen=True)
class CustomerMatch:
    customer: Customer
    #: the identity the contact came from
    identity: CustomerIdentity
    is_new_customer: bool
    #: why identities were or were not linked, for the ticket's event log
    notes: tuple[str, ...] = ()


def find_identity(identity: Identity) -> CustomerIdentity | None:
    found = intake_cache.ask(intake_cache.IntakeCache.identity, identity)
    if found is not intake_cache.UNKNOWN:
        return found
    return db.session.scalar(
        sa.select(CustomerIdentity)
        .where(
            CustomerIdentity.kind == identity.kind.value,
            CustomerIdentity.address == identity.address,
        )
        # Intake needs the customer next: in the same round trip.
        .options(joinedload(CustomerIdentity.customer))
    )


def find_or_create_customer(
    sender: Identity, others: tuple[Identity, ...] = (), *, now: datetime
) -> CustomerMatch:
    """Return the customer the sender's address belongs to, creating one if needed.

    Other identities given in the same contact (a web form with e-mail and phone) are linked to
    that customer when they are unknown. An address that already belongs to another customer is
    never moved: merging two customers is an agent's decision, so it is only noted.
    """
    notes: list[str] = []
    sender_row = find_identity(sender)
    other_rows = [(other, find_identity(other)) for other in others if other != sender]
    customer: Customer | None = sender_row.customer if sender_row else None
    if customer is None:
        # The sender is new, but a second address may already be known: use that customer.
        for _other, row in other_rows:
            if row is not None:
                customer = row.customer
                notes.append(f"{sender.address} linked to the customer known by {row.address}")
                break
    is_new = customer is None
    cache = intake_cache.active()
    if customer is None:
        customer = Customer(name=sender.display_name, created_at=now)
        db.session.add(customer)
        if cache is not None:
            cache.added_customer(customer)
    if sender_row is None:
        sender_row = _add_identity(customer, sender, now)
    for other, row in other_rows:
        if row is None:
            _add_identity(customer, other, now)
            if not is_new:
                notes.append(f"{other.address} added to the customer")
        elif row.customer_id != customer.id and row.customer is not customer:
            notes.append(
                f"{other.address} belongs to another customer (#{row.customer_id}); not merged"
            )
    if not customer.name and sender.display_name:
        customer.name = sender.display_name
    sender_row.last_seen_at = now
    if cache is None:
        # Written now: what intake asks the database next names the customer by its id.
        db.session.flush()
    return CustomerMatch(customer, sender_row, is_new, tuple(notes))


def _add_identity(customer: Customer, identity: Identity, now: datetime) -> CustomerIdentity:
    row = CustomerIdentity(
        customer=customer,
        kind=identity.kind.value,
        address=identity.address,
        display_name=identity.display_name,
        created_at=now,
    )
    db.session.add(row)
    cache = intake_cache.active()
    if cache is not None:
        cache.added_identity(row)
    return row


def set_opt_out(identity: CustomerIdentity, *, opted_out: bool, reason: str, now: datetime) -> bool:
    """Record an SMS opt-out or opt-in; return whether anything changed."""
    if opted_out and identity.opted_out_at is None:
        identity.opted_out_at = now
        identity.opt_out_reason = reason
        return True
    if not opted_out and identity.opted_out_at is not None:
        identity.opted_out_at = None
        identity.opt_out_reason = None
        return True
    return False
