"""Tables of the regions domain: the administrative tree above communities and its officials."""

from __future__ import annotations

import uuid
from typing import Literal, get_args

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.config import NAME_MAX
from service.db import Base, IdMixin, TimestampMixin

__all__ = ["LEVELS", "REGION_ROLES", "Level", "Region", "RegionCommunity", "RegionMembership"]

Level = Literal["city", "district", "street"]
LEVELS: tuple[Level, ...] = get_args(Level)
"""Top down: a city (市) holds districts (区/县), a district holds streets (街道/乡镇)."""
REGION_ROLES = ("official",)


class Region(IdMixin, TimestampMixin, Base):
    """One node of the tree above communities; ``parent_id`` is None only for a city."""

    __tablename__ = "regions"

    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("regions.id"), default=None, index=True)
    level: Mapped[Level] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    code: Mapped[str] = mapped_column(String(32), unique=True)

    __table_args__ = (
        CheckConstraint("level IN ('city','district','street')", name="known_level"),
        CheckConstraint("(level = 'city') = (parent_id IS NULL)", name="only_cities_on_top"),
    )


class RegionCommunity(Base):
    """Which region a community belongs to (at most one). Kept here so accounts need not know regions."""

    __tablename__ = "region_communities"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regions.id"), index=True)


class RegionMembership(IdMixin, TimestampMixin, Base):
    """A role of a member on a region: an ``official`` sees every figure of the region and below."""

    __tablename__ = "region_memberships"

    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regions.id"))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="official")

    __table_args__ = (
        UniqueConstraint("region_id", "member_id", "role", name="region_role_once"),
        CheckConstraint("role IN ('official')", name="known_role"),
        Index("ix_region_memberships_region", "region_id"),
    )
