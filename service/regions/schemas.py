"""Request and response bodies of the regions API."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from service.accounts.models import PARTNER_KINDS
from service.accounts.schemas import Phone
from service.kit.fields import Name
from service.points.service import BUDGET_MONTHLY_MAX
from service.regions.models import LEVELS, Level
from service.regions.rules import REGION_CODE_RE

__all__ = [
    "BudgetIn",
    "BudgetOut",
    "CommunityRegionIn",
    "OfficialIn",
    "OfficialOut",
    "RegionIn",
    "RegionOut",
    "RegionTreeOut",
    "StaffIn",
    "StaffOut",
    "UnitIn",
    "UnitOut",
    "UnitPatch",
]


CODE_SCHEMA = {"extra": {"pattern": REGION_CODE_RE}}


class RegionIn(msgspec.Struct, kw_only=True):
    name: Name
    code: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=32, extra_json_schema={"extra": {"pattern": REGION_CODE_RE}}),
    ]
    level: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={
                "description": "city, district or street (one below the parent)",
                "extra": {"enum": list(LEVELS)},
            }
        ),
    ]
    parent_id: uuid.UUID | None = None


class OfficialOut(msgspec.Struct, kw_only=True):
    member_id: uuid.UUID
    name: str
    phone: str


class RegionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    level: Level
    name: str
    code: str
    community_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    officials: list[OfficialOut] = msgspec.field(default_factory=list)


class RegionTreeOut(msgspec.Struct, kw_only=True):
    regions: list[RegionOut]


class CommunityRegionIn(msgspec.Struct, kw_only=True):
    region_id: uuid.UUID | None = None


class OfficialIn(msgspec.Struct, kw_only=True):
    phone: Phone


class BudgetIn(msgspec.Struct, kw_only=True):
    monthly_points: Annotated[
        int,
        msgspec.Meta(
            extra_json_schema={
                "description": "Points the community may issue per local calendar month",
                "extra": {"minimum": 0, "maximum": BUDGET_MONTHLY_MAX},
            }
        ),
    ]
    """The service answers ``invalid_budget`` outside 0-``BUDGET_MONTHLY_MAX``; the document says so."""


class BudgetOut(msgspec.Struct, kw_only=True):
    community_id: uuid.UUID
    monthly_points: int | None
    """None: no budget set yet; nothing issues until an official sets one."""
    month: str
    """The local month (YYYY-MM) the figures are for."""
    issued: int
    remaining: int
    pending_points: int
    pending_count: int


class UnitIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    kind: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={
                "description": "shop, service, health, fitness or other",
                "extra": {"enum": list(PARTNER_KINDS)},
            }
        ),
    ] = "shop"
    address: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    hours: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    """Opening hours as residents read them (周一至周六 8:00-20:00)."""
    monthly_quota: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    """Vouchers the unit gives out per calendar month over all its offers."""


class UnitOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    region_id: uuid.UUID | None
    community_id: uuid.UUID | None
    name: str
    kind: str
    address: str | None
    hours: str | None
    monthly_quota: int | None
    active: bool


class UnitPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    active: bool
    """False pauses the unit: its offers leave every offers page (issued vouchers still redeem)."""


class StaffIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    phone: Phone
    name: Name


class StaffOut(msgspec.Struct, kw_only=True):
    member_id: uuid.UUID
    activation_code: str | None
    """The one-time code the person sets a password with (at /join/<code>); null when they can log in
    already."""
