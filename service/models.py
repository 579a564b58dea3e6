"""Import every domain's tables so ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations

import importlib

__all__ = ["DOMAINS", "load_all_models"]

DOMAINS = ("accounts", "points", "activities", "store", "rewards", "audit", "regions", "reports")


def load_all_models() -> None:
    import service.idempotency  # noqa: F401  (its table lives outside the domains)

    for domain in DOMAINS:
        try:
            importlib.import_module(f"service.{domain}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"service.{domain}.models":
                raise
