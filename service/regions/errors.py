"""The regions domain's errors: one class per code (codes and statuses are a public contract)."""

from __future__ import annotations

from service.errors import Conflict, Forbidden, InvalidInput, NotFound

__all__ = [
    "BudgetNotYours",
    "InvalidRegionCode",
    "InvalidRegionLevel",
    "OfficialNotFound",
    "RegionCodeTaken",
    "RegionHasNoCommunity",
    "RegionNotFound",
]


class RegionNotFound(NotFound):
    code = "region_not_found"
    message = "No such region."


class OfficialNotFound(NotFound):
    code = "official_not_found"
    message = "This person is not an official of this region."


class InvalidRegionCode(InvalidInput):
    code = "invalid_region_code"
    message = "A region code has 1-32 of a-z 0-9 _ -."


class InvalidRegionLevel(InvalidInput):
    code = "invalid_region_level"
    message = "A region under %(parent)s must be a %(expected)s."


class RegionCodeTaken(Conflict):
    code = "region_code_taken"
    message = "Another region has this code."


class BudgetNotYours(Forbidden):
    code = "budget_not_yours"
    message = (
        "Only an official of a region above the community or the platform administrator sets its points"
        " budget."
    )


class RegionHasNoCommunity(Conflict):
    code = "region_has_no_community"
    message = "No community belongs to this region yet: its unit would have nobody to serve."
