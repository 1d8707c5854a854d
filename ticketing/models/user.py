"""Back-office users, their teams, canned responses and in-app notifications."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.clock import utcnow
from ticketing.db import UTCDateTime, db
from ticketing.models.enums import Role, enum_values


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: shown in queues and used in policy and escalation conditions
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    #: where team notifications go (a shared mailbox), optional
    email: Mapped[str | None] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(back_populates="team")

    def __repr__(self) -> str:
        return f"<Team {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: login name, stored lower-cased
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(
        sa.Enum(Role, native_enum=False, length=20, values_callable=enum_values)
    )
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    #: for SMS escalation notifications, E.164
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    #: interface language, "nl" or "en"
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    is_active_account: Mapped[bool] = mapped_column(default=True)
    #: bumped on password change or forced logout; part of the session token
    session_version: Mapped[int] = mapped_column(default=1)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive accounts
        return self.is_active_account

    def get_id(self) -> str:
        # The session carries the version, so a password change logs out every other session.
        return f"{self.id}:{self.session_version}"

    def has_role(self, *roles: Role) -> bool:
        """Admins can do everything supervisors can, and supervisors everything agents can."""
        rank = {Role.agent: 1, Role.supervisor: 2, Role.admin: 3}
        return any(rank[self.role] >= rank[role] for role in roles)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class CannedResponse(db.Model):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    #: "nl" or "en"
    language: Mapped[str] = mapped_column(sa.String(8))
    #: text with placeholders such as {customer_name}, {ticket_ref}, {agent_name}
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("title", "language"),)


class Notification(db.Model):
    """A back-office notification for one user (escalations, mentions)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)
