"""The operators' metrics the domains update: group-commit batches, and points counted only when their
transaction commits; the metrics settings."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from service.cli import _metrics_dir
from service.config import ConfigError, Settings
from service.kit.batch import GroupCommit
from service.kit.observe import count_points_on_commit
from service.observability import REQUEST_IDS


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_group_commit_counts_each_batch_and_its_wait() -> None:
    async def run(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return [i * 2 for i in items]

    batches = _value("jifen_batch_size_count", path="test")
    items = _value("jifen_batch_size_sum", path="test")
    waits = _value("jifen_batch_wait_seconds_count", path="test")
    commit: GroupCommit[int, int] = GroupCommit(run, batch_max=4, drains=1, owner=object(), name="test")
    assert await asyncio.gather(*(commit.submit(i) for i in range(10))) == [i * 2 for i in range(10)]
    assert _value("jifen_batch_size_sum", path="test") - items == 10
    # Ten items in batches of at most four: at least three batches, each one observation of size and wait.
    grown = _value("jifen_batch_size_count", path="test") - batches
    assert grown >= 3
    assert _value("jifen_batch_wait_seconds_count", path="test") - waits == grown


def test_points_count_when_their_transaction_commits_and_never_when_it_rolls_back() -> None:
    community = str(uuid.uuid4())
    session = Session()
    count_points_on_commit(session, community, issued=30)
    session.begin()
    session.rollback()
    assert _value("jifen_points_issued_total", community=community) == 0
    session.begin()
    count_points_on_commit(session, community, issued=12)
    count_points_on_commit(session, community, spent=5)
    session.commit()
    assert _value("jifen_points_issued_total", community=community) == 12
    assert _value("jifen_points_spent_total", community=community) == 5
    session.commit()  # counted once
    assert _value("jifen_points_issued_total", community=community) == 12


def test_metrics_settings() -> None:
    assert Settings.from_env({"JIFEN_METRICS_TOKEN": "x" * 16}).metrics_token == "x" * 16
    assert Settings.from_env({}).metrics_token == ""
    with pytest.raises(ConfigError, match="JIFEN_METRICS_TOKEN"):
        Settings.from_env({"JIFEN_METRICS_TOKEN": "short"})
    assert Settings.from_env({"JIFEN_LOG_JSON": "0"}).log_json is False


def test_request_ids_are_unique_and_a_new_process_gets_a_new_prefix() -> None:
    ids = {REQUEST_IDS.new() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    before = REQUEST_IDS.prefix
    REQUEST_IDS.reset()  # what a forked worker runs first
    assert REQUEST_IDS.prefix != before and REQUEST_IDS.new() not in ids


def test_serve_gives_the_workers_an_empty_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old run")
    assert _metrics_dir(Settings(metrics_dir=str(folder))) is None  # the operator's: kept, emptied
    assert not list(folder.glob("*.db")) and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    temporary = _metrics_dir(Settings())  # none configured: a new one, removed when the server stops
    assert temporary is not None and temporary.is_dir() and not list(temporary.iterdir())
    temporary.rmdir()
