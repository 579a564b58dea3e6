"""Least privilege on PostgreSQL: an owner role that migrates, an app role that owns nothing.

The owner role (``JIFEN_MIGRATION_DATABASE_URL``) owns the database, its schema, every table and every
function; the server connects as the app role (``JIFEN_DATABASE_URL``), which may read and write
ordinary rows but only append to the append-only tables, and cannot TRUNCATE, ALTER, DROP, disable a
trigger, create objects or set ``session_replication_role`` (a superuser's setting). So the append-only
triggers of ``ledger_entries`` and ``audit_events`` hold even for a compromised server process.

:func:`grant_app_privileges` runs (as the owner) after every upgrade, last: after the migrations and
the database code (functions, triggers) they install, so it covers whatever those created.
:func:`privilege_problems` is what ``jifen serve`` checks in production before it starts.
:func:`role_statements` and :func:`database_statements` are the SQL of ``jifen db roles``.
SQLite has no roles: everything here is PostgreSQL only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = [
    "APPEND_ONLY_TABLES",
    "READ_ONLY_TABLES",
    "RoleProblem",
    "database_statements",
    "grant_app_privileges",
    "privilege_problems",
    "quote_ident",
    "role_statements",
]

APPEND_ONLY_TABLES = ("audit_events", "ledger_entries", "ledger_transfers")
"""Tables the app only ever inserts into and reads: it gets SELECT and INSERT on them, nothing else.
(``ledger_transfers`` is written once by ``service/points/ledger.py`` and the posting functions and
never updated; corrections are reversing transfers.)"""
READ_ONLY_TABLES = ("alembic_version", "db_code")
"""Tables the app reads but never writes (only migrations do; ``db_code`` holds the hashes of the
installed database code, ``service/dbcode.py``)."""
SCHEMA = "public"
GRANT_LOCK_KEY = 0x6A6966656E_01
"""Advisory lock key of the grant step: servers starting together grant one after another."""
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""Role names ``jifen db roles`` creates: lower-case identifiers, so no quoting surprises in URLs."""


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier (double-quoted, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def grant_app_privileges(conn: AsyncConnection, app_role: str) -> None:
    """Give ``app_role`` exactly what the app needs on every object of the schema, idempotently.

    Run as the role that owns the tables (the migration role), after migrations and the installed
    database code. Everything the app role held before is revoked first, so a grant that an older
    version gave (or someone added by hand) does not survive an upgrade. Default privileges make
    objects the owner creates later readable and writable by the app at once; this step, run after
    every upgrade, then narrows the append-only ones.
    """
    if conn.dialect.name != "postgresql":
        return
    owner = await conn.scalar(text("SELECT current_user"))
    if owner == app_role:
        raise ValueError(
            f"the app role {app_role!r} is the migration role itself: connect the app as another role "
            "(JIFEN_DATABASE_URL) or name it in JIFEN_APP_DB_ROLE"
        )
    exists = await conn.scalar(text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": app_role})
    if not exists:
        raise ValueError(
            f"the app role {app_role!r} does not exist: create it first (jifen db roles prints the SQL)"
        )
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": GRANT_LOCK_KEY})
    app, me, schema = quote_ident(app_role), quote_ident(str(owner)), quote_ident(SCHEMA)
    present = set(
        (
            await conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                {"s": SCHEMA},
            )
        ).all()
    )
    statements = [
        # Nobody but the owner creates objects (PostgreSQL 15's default; older clusters gave PUBLIC CREATE).
        f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {app}",
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {app}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {app}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        *(
            f"REVOKE UPDATE, DELETE ON {schema}.{quote_ident(t)} FROM {app}"
            for t in APPEND_ONLY_TABLES
            if t in present
        ),
        *(
            f"REVOKE INSERT, UPDATE, DELETE ON {schema}.{quote_ident(t)} FROM {app}"
            for t in READ_ONLY_TABLES
            if t in present
        ),
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {app}",
        # Objects the owner creates from now on (a later migration, the database code installer).
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {me} IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {me} IN SCHEMA {schema} GRANT USAGE ON SEQUENCES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {me} IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {app}",
    ]
    for statement in statements:
        await conn.execute(text(statement))


@dataclass(frozen=True)
class RoleProblem:
    """Why the role the app connects as may do more than the app needs."""

    role: str
    problem: str

    def __str__(self) -> str:
        return f"role {self.role!r} {self.problem}"


async def privilege_problems(engine: AsyncEngine) -> list[RoleProblem]:
    """What the role ``engine`` connects as may do beyond the app's needs (empty: least privilege).

    Superuser; owner (or member of the owner's role) of tables, sequences or functions of the schema,
    of the schema itself or of the database; allowed to create objects in the schema.
    """
    if engine.dialect.name != "postgresql":
        return []
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    f"""
SELECT current_user AS role,
       r.rolsuper AS superuser,
       (SELECT count(*) FROM pg_class c
         WHERE c.relnamespace = '{SCHEMA}'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
           AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS relations,
       (SELECT count(*) FROM pg_proc p
         WHERE p.pronamespace = '{SCHEMA}'::regnamespace
           AND pg_has_role(current_user, p.proowner, 'MEMBER')) AS functions,
       (SELECT pg_has_role(current_user, n.nspowner, 'MEMBER') FROM pg_namespace n
         WHERE n.nspname = '{SCHEMA}') AS schema_owner,
       (SELECT pg_has_role(current_user, d.datdba, 'MEMBER') FROM pg_database d
         WHERE d.datname = current_database()) AS database_owner,
       has_schema_privilege('{SCHEMA}', 'CREATE') AS can_create
  FROM pg_roles r WHERE r.rolname = current_user
"""
                )
            )
        ).one()
    role = str(row.role)
    if row.superuser:
        return [RoleProblem(role, "is a superuser")]
    found = []
    if row.relations or row.functions:
        found.append(
            RoleProblem(
                role,
                f"owns {row.relations} table(s) and {row.functions} function(s) (or may act as their owner)",
            )
        )
    if row.schema_owner or row.database_owner:
        found.append(RoleProblem(role, "owns the database or its schema (or may act as their owner)"))
    if row.can_create:
        found.append(RoleProblem(role, f"may create objects in schema {SCHEMA}"))
    return found


def role_statements(owner_role: str, app_role: str, owner_password: str, app_password: str) -> list[str]:
    """Create the two login roles unless they exist (roles belong to the whole cluster: run as a
    superuser or a CREATEROLE role). Safe to run again, and concurrently."""
    out = []
    for role, password, extra in (
        (owner_role, owner_password, ""),
        (app_role, app_password, " NOINHERIT"),
    ):
        if not ROLE_NAME.match(role):
            raise ValueError(f"role names are lower-case letters, digits and _ (got {role!r})")
        out.append(
            "DO $$ BEGIN CREATE ROLE "
            f"{quote_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS{extra} "
            f"PASSWORD {_literal(password)}; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN "
            f"RAISE NOTICE 'role {role} exists; left as it is'; END $$"
        )
    return out


def database_statements(database: str, owner_role: str, app_role: str) -> list[str]:
    """Run in the application's database (as a superuser or its current owner): the owner role owns
    it; the app role may connect and nothing more until ``jifen db upgrade`` grants it the tables."""
    db, owner, app = quote_ident(database), quote_ident(owner_role), quote_ident(app_role)
    return [
        f"ALTER DATABASE {db} OWNER TO {owner}",
        f"ALTER SCHEMA {SCHEMA} OWNER TO {owner}",
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {db} TO {app}",
        f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {app}",
    ]
