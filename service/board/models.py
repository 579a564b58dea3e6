"""The board owns no tables: it reads claims (rewards), the ledger (points) and hours (activities).

The module exists so every domain has the same five files; ``service.models.DOMAINS`` lists it.
"""

from __future__ import annotations

__all__: list[str] = []
