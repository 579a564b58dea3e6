"""The site: every page module's routes, home-page panels and administration links, assembled once.

Each page module exports its own ``ROUTES`` and, if it has any, ``HOME_PANELS`` (template, loader) and
``ADMIN_LINKS`` (href, label msgid); nothing adds to another module's lists. ``create_app`` builds the
``Site`` (defined in ``service.web.render``, which page modules import) once and keeps it in
``app.state.site``: the home page reads its panels there and :func:`service.web.render.page` hands the
administration links to every page.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from service.web import (
    activities_pages,
    alliance_pages,
    assets,
    audit_pages,
    board_pages,
    notices_pages,
    onboarding_pages,
    pages,
    points_pages,
    privacy_pages,
    proposals_pages,
    records_pages,
    reports_pages,
    rewards_pages,
    scanner_pages,
    store_pages,
    wishes_pages,
)
from service.web.render import Site

__all__ = ["ADMIN_LINK_ORDER", "HOME_PANEL_ORDER", "ROUTE_ORDER", "build_site"]

ROUTE_ORDER: tuple[ModuleType, ...] = (
    pages,
    points_pages,
    activities_pages,
    store_pages,
    rewards_pages,
    wishes_pages,
    board_pages,
    audit_pages,
    onboarding_pages,
    reports_pages,
    alliance_pages,
    proposals_pages,
    privacy_pages,
    assets,
    records_pages,
    notices_pages,
    scanner_pages,
)
HOME_PANEL_ORDER: tuple[ModuleType, ...] = (points_pages, activities_pages, wishes_pages, store_pages)
"""The order of the panels in each community card of the home page."""
ADMIN_LINK_ORDER: tuple[ModuleType, ...] = (
    pages,
    proposals_pages,
    audit_pages,
    points_pages,
    reports_pages,
    rewards_pages,
    store_pages,
    privacy_pages,
)
"""The order of the administration sub-navigation."""


def _gather(modules: Iterable[ModuleType], name: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for module in modules:
        for item in getattr(module, name, ()):
            if item not in out:
                out.append(item)
    return tuple(out)


def build_site() -> Site:
    """Every page module's routes, panels and links, in one place (a module missing from the orders
    above fails loudly here rather than having its pages silently absent)."""
    for name, order in (("HOME_PANELS", HOME_PANEL_ORDER), ("ADMIN_LINKS", ADMIN_LINK_ORDER)):
        unplaced = [m.__name__ for m in ROUTE_ORDER if getattr(m, name, None) and m not in order]
        if unplaced:
            raise RuntimeError(f"{name} of {unplaced} have no place in the site's order")
    return Site(
        routes=_gather(ROUTE_ORDER, "ROUTES"),
        home_panels=_gather(HOME_PANEL_ORDER, "HOME_PANELS"),
        admin_links=_gather(ADMIN_LINK_ORDER, "ADMIN_LINKS"),
    )
