"""Import every domain's tables so ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations

import importlib

__all__ = ["DOMAINS", "load_all_models"]

DOMAINS = (
    "accounts",
    "points",
    "notices",
    "activities",
    "store",
    "rewards",
    "wishes",
    "board",
    "audit",
    "regions",
    "reports",
    "records",
)
"""Every domain package; each has a ``models.py`` (a domain without tables keeps an empty one)."""


def load_all_models(domains: tuple[str, ...] = DOMAINS) -> None:
    """Import each domain's ``models`` module. A listed module that is missing fails loudly: a silently
    skipped module would leave its tables out of migrations and test databases."""
    import service.dbcode  # (the registry of installed database code)
    import service.idempotency  # noqa: F401  (its table lives outside the domains)

    for domain in domains:
        importlib.import_module(f"service.{domain}.models")
