"""The database code's installation on a scratch PostgreSQL database: upgrade from empty, down to base
and up again, and a changed or tampered function put back by the next upgrade."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config

from service import dbcode
from service.db import upgrade_database
from tests.support.database import PG_URL, ROOT, in_thread

pytestmark = pytest.mark.postgres

DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _query(url: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


@pytest.fixture
def scratch() -> Any:
    name = f"jifen_scratch_{secrets.token_hex(4)}"
    in_thread(asyncio.run, _admin(f'CREATE DATABASE "{name}"'))
    yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    in_thread(asyncio.run, _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _state(url: str) -> tuple[set[str], set[str], dict[str, str]]:
    functions = in_thread(
        asyncio.run, _query(url, "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
    )
    triggers = in_thread(asyncio.run, _query(url, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    tables = in_thread(
        asyncio.run, _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    registry = {}
    if "db_code" in {r[0] for r in tables}:
        registry = {
            r[0]: r[1] for r in in_thread(asyncio.run, _query(url, "SELECT path, sha256 FROM db_code"))
        }
    return {r[0] for r in functions}, {r[0] for r in triggers}, registry


def test_up_down_up_installs_drops_and_installs_the_files(scratch: str) -> None:
    wanted = {s.path: s.digest() for s in dbcode.SOURCES if s.dialect == "postgresql"}
    in_thread(upgrade_database, scratch)
    functions, triggers, registry = _state(scratch)
    assert {k: v for k, v in registry.items() if k != dbcode.CATALOG} == wanted
    assert {"ledger_post", "ledger_write", "jifen_scan_batch", "store_redeem_batch"} <= functions
    assert {
        "ledger_entries_append_only",
        "audit_events_append_only",
        "report_ledger_entries_insert",
    } <= triggers
    in_thread(command.downgrade, _config(scratch), "base")
    assert _state(scratch)[:2] == (set(), set())
    in_thread(upgrade_database, scratch)
    assert _state(scratch) == (functions, triggers, registry)


def test_a_changed_file_or_a_function_edited_by_hand_is_installed_again(scratch: str) -> None:
    in_thread(upgrade_database, scratch)
    edit = (
        "CREATE OR REPLACE FUNCTION activity_points(p_mode text, p_rate int, p_max int, p_minutes int)"
        " RETURNS bigint LANGUAGE sql AS $$ SELECT 1000::bigint $$"
    )
    in_thread(asyncio.run, _admin_on(scratch, edit))
    assert _points(scratch) == 1000
    in_thread(upgrade_database, scratch)  # the catalog no longer matches its digest: installed again
    assert _points(scratch) == 11
    in_thread(
        asyncio.run, _admin_on(scratch, "UPDATE db_code SET sha256 = 'changed' WHERE path LIKE '%.sql'")
    )
    in_thread(upgrade_database, scratch)  # a file changed (as a deploy brings): installed again
    registry = _state(scratch)[2]
    assert {k: v for k, v in registry.items() if k != dbcode.CATALOG} == {
        s.path: s.digest() for s in dbcode.SOURCES if s.dialect == "postgresql"
    }


async def _admin_on(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _points(url: str) -> int:
    rows = in_thread(asyncio.run, _query(url, "SELECT activity_points('per_hour', 7, NULL, 95)"))
    return int(rows[0][0])
