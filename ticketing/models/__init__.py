"""SQLAlchemy models: tables, constraints and relationships; no workflows."""

from ticketing.models.customer import Customer, CustomerIdentity, customer_tags
from ticketing.models.enums import (
    OPEN_STATUSES,
    DeliveryState,
    Direction,
    InboundStatus,
    OutboxStatus,
    Priority,
    Role,
    TicketStatus,
)
from ticketing.models.escalation import EscalationFiring, EscalationRule, EscalationRuleState
from ticketing.models.inbound import InboundRecord
from ticketing.models.integration import (
    ApiToken,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from ticketing.models.message import Attachment, Message, MessageReference
from ticketing.models.outbox import OutboxMessage
from ticketing.models.sla import BreachReview, SlaClock, SlaPolicy, SweepState
from ticketing.models.ticket import Tag, Ticket, TicketEvent, TicketPresence, ticket_tags
from ticketing.models.tracking import TrackingToken
from ticketing.models.user import CannedResponse, Notification, Team, User

__all__ = [
    "OPEN_STATUSES",
    "ApiToken",
    "Attachment",
    "BreachReview",
    "CannedResponse",
    "Customer",
    "CustomerIdentity",
    "DeliveryState",
    "Direction",
    "EscalationFiring",
    "EscalationRule",
    "EscalationRuleState",
    "InboundRecord",
    "InboundStatus",
    "Message",
    "MessageReference",
    "Notification",
    "OutboxMessage",
    "OutboxStatus",
    "Priority",
    "Role",
    "SlaClock",
    "SlaPolicy",
    "SweepState",
    "Tag",
    "Team",
    "Ticket",
    "TicketEvent",
    "TicketPresence",
    "TicketStatus",
    "TrackingToken",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "customer_tags",
    "ticket_tags",
]
