"""Every domain's tables are loaded, and a listed domain without its models module fails loudly."""

from __future__ import annotations

import pytest

from service.db import Base
from service.models import DOMAINS, load_all_models


def test_every_domain_is_listed_and_its_tables_load() -> None:
    load_all_models()
    assert {"wishes", "board", "rewards"} <= set(DOMAINS)
    tables = set(Base.metadata.tables)
    assert {"wishes", "reward_claims", "household_links", "activity_ratings"} <= tables


def test_a_listed_domain_without_models_fails_loudly() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_all_models(("accounts", "no_such_domain"))
