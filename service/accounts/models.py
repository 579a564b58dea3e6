"""Tables of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.config import NAME_MAX
from service.db import Base, IdMixin, TimestampMixin

__all__ = ["ROLES", "Community", "LoginFailure", "Member", "Membership", "Partner"]

ROLES = ("admin", "organizer", "clerk", "reviewer", "partner", "member")


class Community(IdMixin, TimestampMixin, Base):
    """A street, community or village that runs its own points economy."""

    __tablename__ = "communities"

    name: Mapped[str] = mapped_column(String(NAME_MAX))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    allow_registration: Mapped[bool] = mapped_column(default=True)


class Member(IdMixin, TimestampMixin, Base):
    """A person. One account across communities; roles are per community."""

    __tablename__ = "members"

    phone: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    token_version: Mapped[int] = mapped_column(default=0)
    """Bumped on logout and password change: every older token stops working."""


class Partner(IdMixin, TimestampMixin, Base):
    """A shop or unit of the community's alliance (商家联盟); its staff hold the ``partner`` role."""

    __tablename__ = "partners"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (UniqueConstraint("community_id", "name"),)


class Membership(IdMixin, TimestampMixin, Base):
    """One role of one member in one community."""

    __tablename__ = "memberships"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), default=None)

    __table_args__ = (
        UniqueConstraint("community_id", "member_id", "role", name="role_once"),
        CheckConstraint(
            "role IN ('admin','organizer','clerk','reviewer','partner','member')", name="known_role"
        ),
        CheckConstraint("(role = 'partner') = (partner_id IS NOT NULL)", name="partner_bound"),
        Index("ix_memberships_community_role", "community_id", "role"),
    )


class LoginFailure(Base):
    """Failed logins per key (``phone:…`` or ``ip:…``) in the current window, for throttling."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]
