"""Alembic environment: runs migrations on Jifen's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from service import dbcode
from service.config import Settings
from service.db import Base, create_engine
from service.models import load_all_models

load_all_models()
config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or Settings.from_env().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        heads = set(ScriptDirectory.from_config(config).get_heads())
        migration = context.get_context()
        # Database code (service/dbcode.py) is dropped before any versioned step runs and installed from
        # the files again at the head revision: a step never meets a function that names its tables.
        idle = _nothing_to_run(heads, set(migration.get_current_heads()))
        dbcode.sync(connection, before=True, at_head=idle)
        context.run_migrations()
        dbcode.sync(connection, before=False, at_head=set(migration.get_current_heads()) == heads)


def _nothing_to_run(heads: set[str], current: set[str]) -> bool:
    """Whether the requested revision is where the database already is (the head)."""
    if current != heads:
        return False
    destination = context.get_revision_argument()
    if destination in ("head", "heads"):
        return True
    try:
        wanted = {s.revision for s in ScriptDirectory.from_config(config).get_revisions(destination) if s}
    except Exception:  # a relative step (-1, +2) or an unknown name: something may run
        return False
    return wanted == heads


async def _run_async() -> None:
    engine = create_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
