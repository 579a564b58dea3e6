"""Least privilege on PostgreSQL: the app's role cannot rewrite history, the owner's role migrates.

The whole PostgreSQL pass runs as the app role (tests/conftest.py); these tests try, as that role, what
an intruder in the server process would try against the append-only ledger and audit log, and check that
each attempt is refused and changes no row.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import secrets
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.audit import service as audit
from service.config import Settings
from service.db import create_engine, upgrade_database
from service.dbroles import APPEND_ONLY_TABLES, READ_ONLY_TABLES, grant_app_privileges, privilege_problems
from service.points import service as points
from tests.support.database import APP_ROLE, OWNER_ROLE, PG_URL, ROOT, in_thread
from tests.support.world import SECRET, World

pytestmark = pytest.mark.postgres

WATCHED = ("ledger_entries", "ledger_transfers", "audit_events", "ledger_accounts")
REFUSED = r"permission denied|must be (the )?owner|must be superuser|must have admin option"
"""PostgreSQL's refusals for want of privilege (SQLSTATE 42501)."""

ATTACKS = [
    "TRUNCATE audit_events",
    "TRUNCATE ledger_entries",
    "TRUNCATE ledger_entries, ledger_transfers, audit_events CASCADE",
    "ALTER TABLE ledger_entries ADD COLUMN forged integer",
    "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
    "SET session_replication_role = replica",
    "SET LOCAL session_replication_role = replica",
    "UPDATE ledger_entries SET points = points + 1000",
    "DELETE FROM ledger_entries",
    "UPDATE ledger_transfers SET memo = 'forged'",
    "DELETE FROM ledger_transfers",
    "UPDATE audit_events SET action = 'nothing_happened'",
    "DELETE FROM audit_events",
    "UPDATE alembic_version SET version_num = 'forged'",
    "CREATE TABLE forged (id integer)",
    "CREATE FUNCTION forged() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "CREATE OR REPLACE FUNCTION jifen_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NEW; END $$",
    "DROP FUNCTION jifen_append_only() CASCADE",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "DROP TABLE audit_events CASCADE",
    "CREATE TRIGGER forged BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION jifen_append_only()",
    "LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE",
    f"SET ROLE {OWNER_ROLE}",
    f"ALTER ROLE {APP_ROLE} SUPERUSER",
    f"GRANT {OWNER_ROLE} TO {APP_ROLE}",
    "ALTER TABLE audit_events OWNER TO CURRENT_USER",
]


async def _seed(db: AsyncSession, world: World) -> None:
    """Ledger entries, transfers and an audit event, written as the app writes them."""
    for key, who, n in (("a", "alice", 10), ("b", "bob", 5)):
        await points.award(
            db, community_id=world.cid, member_id=world.members[who].id, points=n, code="checkin",
            idempotency_key=key,
        )  # fmt: skip
    await audit.record(
        db, actor_id=world.members["admin"].id, action="points_awarded", community_id=world.cid
    )
    await db.commit()


async def _fingerprint(owner: AsyncEngine) -> dict[str, tuple[int, str]]:
    """Rows and a digest of every watched table, plus the triggers' state, read as the owner."""
    out = {}
    async with owner.connect() as conn:
        for table in WATCHED:
            rows = (await conn.execute(text(f"SELECT * FROM {table} ORDER BY id"))).all()
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        triggers = (
            await conn.execute(
                text("SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname")
            )
        ).all()
        out["triggers"] = (len(triggers), repr(triggers))
        tables = (
            await conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        ).one()
        out["tables"] = (int(tables[0]), "")
    return out


async def test_every_attack_of_the_app_role_is_refused_and_changes_nothing(
    db: AsyncSession, world: World, engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    await _seed(db, world)
    assert await db.scalar(text("SELECT current_user")) == APP_ROLE
    before = await _fingerprint(owner_engine)
    assert before["ledger_entries"][0] >= 4 and before["audit_events"][0] >= 1
    let_through = []
    for attack in ATTACKS:
        try:
            await db.execute(text(attack))
            await db.commit()
        except DBAPIError as exc:
            assert re.search(REFUSED, str(exc.orig)), (attack, str(exc.orig))
        else:
            let_through.append(attack)
        await db.rollback()
    assert let_through == []
    # A grant of what it lacks is no error, only a warning ("no privileges were granted"): nothing changes.
    await db.execute(text(f"GRANT UPDATE, DELETE, TRUNCATE ON ledger_entries, audit_events TO {APP_ROLE}"))
    await db.commit()
    async with engine.connect() as conn:
        assert await conn.scalar(text("SHOW session_replication_role")) == "origin"
    assert await _fingerprint(owner_engine) == before
    assert (await points.verify(db, world.cid)).ok


async def test_the_app_role_is_no_superuser_and_owns_nothing(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    """
SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
       (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS relations,
       (SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid) AS functions,
       (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid) AS schemas,
       (SELECT count(*) FROM pg_database d WHERE d.datdba = r.oid) AS databases,
       (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) AS memberships
  FROM pg_roles r WHERE r.rolname = current_user"""
                )
            )
        ).one()
    assert tuple(row) == (False, False, False, False, 0, 0, 0, 0, 0)
    assert await privilege_problems(engine) == []
    # the check can fail: the owner owns every table and function, a superuser is one
    owner_problems = await privilege_problems(owner_engine)
    assert owner_problems and "owns" in str(owner_problems[0]), owner_problems
    superuser = create_engine(str(make_url(PG_URL).set(database=engine.url.database).render_as_string(False)))
    try:
        expected = f"role {make_url(PG_URL).username!r} is a superuser"
        assert [str(p) for p in await privilege_problems(superuser)] == [expected]
    finally:
        await superuser.dispose()


async def test_the_app_role_holds_exactly_what_the_app_needs(
    engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    async with owner_engine.connect() as conn:
        tables = set(
            (await conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).all()
        )
        grants = (
            await conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :r AND table_schema = 'public'"
                ),
                {"r": APP_ROLE},
            )
        ).all()
        functions = (
            await conn.execute(
                text(
                    "SELECT p.proname, has_function_privilege(:r, p.oid, 'EXECUTE') FROM pg_proc p "
                    "WHERE p.pronamespace = 'public'::regnamespace"
                ),
                {"r": APP_ROLE},
            )
        ).all()
        can_create = await conn.scalar(
            text("SELECT has_schema_privilege(:r, 'public', 'CREATE')"), {"r": APP_ROLE}
        )
    held: dict[str, set[str]] = {t: set() for t in tables}
    for table, privilege in grants:
        held[table].add(privilege)
    assert {"ledger_entries", "ledger_transfers", "audit_events", "idempotency_keys", "scan_uses"} <= tables
    for table in tables:
        if table in APPEND_ONLY_TABLES:
            expected = {"SELECT", "INSERT"}
        elif table in READ_ONLY_TABLES:
            expected = {"SELECT"}
        else:  # ordinary tables, and the report summaries the triggers upsert as the invoking role
            expected = {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert held[table] == expected, table
    assert functions and all(ok for _, ok in functions), functions
    assert can_create is False


async def test_the_grant_step_covers_later_tables_and_functions_and_takes_back_extra_grants(
    db: AsyncSession, world: World, engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    """What a later migration or the database code installer creates is usable by the app at once
    (default privileges); the grant step after the upgrade narrows append-only tables and revokes a
    grant someone added by hand."""
    await _seed(db, world)
    try:
        async with owner_engine.begin() as conn:
            await conn.execute(text("CREATE TABLE later_rows (id integer PRIMARY KEY)"))
            await conn.execute(
                text("CREATE FUNCTION later_answer() RETURNS integer LANGUAGE sql AS 'SELECT 42'")
            )
            await conn.execute(text(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO {APP_ROLE}"))
        async with engine.begin() as conn:  # default privileges: the app may use them already
            await conn.execute(text("INSERT INTO later_rows VALUES (1)"))
            assert await conn.scalar(text("SELECT later_answer()")) == 42
        upgrade = functools.partial(
            upgrade_database, owner_engine.url.render_as_string(False), app_role=APP_ROLE
        )
        in_thread(upgrade)
        in_thread(upgrade)  # twice: the same
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE later_rows SET id = 2"))
            # a function that is in no file was dropped by the upgrade (service/dbcode.py runs only the
            # files' code); the files' functions, installed again, are the app's to execute
            assert await conn.scalar(text("SELECT to_regprocedure('later_answer()')")) is None
            assert await conn.scalar(text("SELECT activity_points('per_hour', 7, NULL, 95)")) == 11
        before = await _fingerprint(owner_engine)
        for attack in ("TRUNCATE audit_events", "DELETE FROM audit_events", "DROP TABLE later_rows"):
            with pytest.raises(DBAPIError, match=REFUSED):
                async with engine.begin() as conn:
                    await conn.execute(text(attack))
        assert await _fingerprint(owner_engine) == before
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS later_rows"))
            await conn.execute(text("DROP FUNCTION IF EXISTS later_answer()"))


async def test_the_grant_step_refuses_to_grant_to_the_owner_itself_or_a_missing_role(
    owner_engine: AsyncEngine,
) -> None:
    for role, message in ((OWNER_ROLE, "migration role itself"), ("jifen_no_such_role", "does not exist")):
        with pytest.raises(ValueError, match=message):
            async with owner_engine.begin() as conn:
                await grant_app_privileges(conn, role)
    async with owner_engine.connect() as conn:  # the owner kept its own rights
        assert await conn.scalar(text("SELECT has_table_privilege('audit_events', 'UPDATE')")) is True


def _serve_env(database_url: str, migration_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "JIFEN_DATABASE_URL": database_url,
        "JIFEN_MIGRATION_DATABASE_URL": migration_url,
        "JIFEN_SECRET_KEY": SECRET,
        "JIFEN_ENV": "production",
        "JIFEN_LOG_LEVEL": "WARNING",
        "JIFEN_JOBS_INTERVAL_SECONDS": "0",
        **extra,
    }


def test_serve_in_production_refuses_a_role_that_owns_the_tables(owner_database_url: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "1", "--workers", "1"],
        env=_serve_env(owner_database_url, owner_database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    assert "configuration error" in r.stderr and "JIFEN_DATABASE_URL" in r.stderr, r.stderr
    assert "owns" in r.stderr and "JIFEN_MIGRATION_DATABASE_URL" in r.stderr, r.stderr
    assert "JIFEN_ALLOW_PRIVILEGED_DATABASE" in r.stderr and "Traceback" not in r.stderr


def test_the_start_up_check_passes_the_app_role_and_honours_the_opt_out(
    database_url: str, owner_database_url: str
) -> None:
    from service.cli import _check_privileges

    def check(app_url: str, **env: str) -> None:
        _check_privileges(Settings.from_env(_serve_env(app_url, owner_database_url, **env)))

    in_thread(check, database_url)  # the app role: starts
    with pytest.raises(SystemExit, match="owns"):
        in_thread(check, owner_database_url)
    opt_out = functools.partial(check, JIFEN_ALLOW_PRIVILEGED_DATABASE="1")
    in_thread(opt_out, owner_database_url)  # the explicit opt-out
    in_thread(
        functools.partial(check, JIFEN_ENV="development"), owner_database_url
    )  # only production refuses


def test_db_roles_execute_then_upgrade_gives_an_app_role_that_owns_nothing() -> None:
    """What README's Operations section tells an operator to run, end to end, on a new database."""
    tag = secrets.token_hex(3)
    owner, app, name = f"jifen_t{tag}_owner", f"jifen_t{tag}_app", f"jifen_roles_{tag}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env |= {"JIFEN_SECRET_KEY": SECRET}

    def jifen(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env=env | extra,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )

    admin = make_url(PG_URL)
    try:
        r = jifen(
            "db", "roles", "--owner-role", owner, "--app-role", app, "--owner-password", "owner-pw",
            "--app-password", "app-pw", "--admin-url", PG_URL, "--database", name, "--execute",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        urls = dict(
            line.removeprefix("--   ").split("=", 1)
            for line in r.stdout.splitlines()
            if line.startswith("--   JIFEN_")
        )
        assert set(urls) == {"JIFEN_MIGRATION_DATABASE_URL", "JIFEN_DATABASE_URL"}
        assert make_url(urls["JIFEN_DATABASE_URL"]).username == app
        again = jifen("db", "roles", "--owner-role", owner, "--app-role", app, "--admin-url", PG_URL,
                      "--database", name, "--execute")  # fmt: skip
        assert again.returncode == 0, again.stderr  # existing roles and database are left as they are
        up = jifen("db", "upgrade", JIFEN_DATABASE_URL=urls["JIFEN_DATABASE_URL"],
                   JIFEN_MIGRATION_DATABASE_URL=urls["JIFEN_MIGRATION_DATABASE_URL"])  # fmt: skip
        assert up.returncode == 0, up.stderr

        async def as_app() -> tuple[list[Any], int, str]:
            engine = create_engine(urls["JIFEN_DATABASE_URL"])
            try:
                problems = await privilege_problems(engine)
                async with engine.connect() as conn:
                    members = int(await conn.scalar(text("SELECT count(*) FROM members")) or 0)
                    try:
                        await conn.execute(text("TRUNCATE audit_events"))
                        refusal = ""
                    except DBAPIError as exc:
                        refusal = str(exc.orig)
                return problems, members, refusal
            finally:
                await engine.dispose()

        problems, members, refusal = in_thread(asyncio.run, as_app())
        assert problems == [] and members == 0 and "permission denied" in refusal
    finally:

        async def drop() -> None:
            import asyncpg

            conn = await asyncpg.connect(
                admin.set(drivername="postgresql").render_as_string(False), timeout=5
            )
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'DROP ROLE IF EXISTS "{app}"')
                await conn.execute(f'DROP ROLE IF EXISTS "{owner}"')
            finally:
                await conn.close()

        in_thread(asyncio.run, drop())
