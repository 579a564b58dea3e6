"""Database code as source code: the functions and triggers in ``service/<domain>/sql/*.sql``, installed
after the versioned migrations (Flyway's "repeatable" steps, keyed by each file's SHA-256).

Versioned migrations (``migrations/versions``) change tables and data only; no function or trigger is
defined in one. The live definition of every PL/pgSQL function and every trigger is the file listed in
:data:`SOURCES`, read by a reviewer like any other module:

- ``*.sql`` files run on PostgreSQL, ``*.sqlite.sql`` files on SQLite, in the order of :data:`SOURCES`
  (a file may call what an earlier one defines);
- the table ``db_code`` (migration 0016) remembers the hash of every file installed, and a digest of
  the definitions the catalog then printed (``#catalog``), so a function edited by hand is put back;
- :func:`sync` runs inside the migration's transaction (``migrations/env.py``): before any versioned
  step runs it drops every function and trigger of the schema (so a step may drop or alter a table a
  function's signature names); at the head revision, when the files' hashes differ from ``db_code``
  (or the code was dropped), it drops the code and runs every file again. A file changed by a
  deploy is therefore installed by the next ``jifen db upgrade`` / ``jifen serve``, and a database
  is never left with the code of an older file, or with an overload an older signature left behind.

Statements are split by :func:`statements` (dollar quotes, strings, comments; a ``CREATE TRIGGER``
on SQLite ends at ``END;``), so each runs as one driver call on either database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Column, String, Table, text
from sqlalchemy.engine import Connection

from service.db import Base

__all__ = ["CATALOG", "SOURCES", "Source", "db_code", "drop", "install", "installed", "statements", "sync"]

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Source:
    path: str
    """Relative to ``service/``."""

    @property
    def dialect(self) -> str:
        return "sqlite" if self.path.endswith(".sqlite.sql") else "postgresql"

    def read(self) -> str:
        return (ROOT / self.path).read_text(encoding="utf-8")

    def digest(self) -> str:
        return hashlib.sha256(self.read().encode("utf-8")).hexdigest()


SOURCES: tuple[Source, ...] = (
    Source("points/sql/ledger.sql"),
    Source("activities/sql/scan_batch.sql"),
    Source("store/sql/batches.sql"),
    Source("reports/sql/summaries.sql"),
    Source("reports/sql/summaries.sqlite.sql"),
    Source("audit/sql/audit.sql"),
    Source("audit/sql/audit.sqlite.sql"),
)
"""Every file of database code, in installation order (tests/unit/test_dbcode.py checks that every
``.sql`` file under ``service/`` is listed)."""

REGISTRY = "db_code"
db_code = Table(
    REGISTRY,
    Base.metadata,
    Column("path", String(200), primary_key=True),
    Column("sha256", String(64), nullable=False),
)
"""The files installed and their hashes (migration 0016)."""


def _sources(dialect: str) -> list[Source]:
    return [s for s in SOURCES if s.dialect == dialect]


def statements(sql: str) -> list[str]:
    """The statements of a file: split at ``;`` outside quotes, dollar quotes and comments; inside a
    ``CREATE TRIGGER`` only at the ``END;`` that closes its body (SQLite)."""
    out: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            i = sql.find("\n", i)
            i = n if i < 0 else i
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if c in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == c and sql.startswith(c * 2, end):
                    end += 2
                    continue
                if sql[end] == c:
                    break
                end += 1
            i = end + 1
            continue
        if c == "$":
            tag_end = sql.find("$", i + 1)
            tag = sql[i : tag_end + 1] if tag_end > 0 else ""
            if tag and (tag == "$$" or tag[1:-1].replace("_", "").isalnum()):
                close = sql.find(tag, tag_end + 1)
                i = n if close < 0 else close + len(tag)
                continue
        if c == ";":
            chunk = sql[start:i].strip()
            if _complete(chunk):
                if _body(chunk):
                    out.append(chunk)
                start = i + 1
        i += 1
    tail = sql[start:].strip()
    if _body(tail):
        out.append(tail)
    return out


def _body(chunk: str) -> bool:
    """Whether ``chunk`` holds more than comments."""
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def _complete(chunk: str) -> bool:
    words = " ".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).split()
    head = [w.upper() for w in words[:3]]
    if head[:2] == ["CREATE", "TRIGGER"] and "BEGIN" in (w.upper() for w in words):
        return bool(words) and words[-1].upper() == "END"
    return True


def installed(conn: Connection) -> dict[str, str]:
    """``path -> sha256`` of the files the database says it runs (empty before migration 0016)."""
    if REGISTRY not in _tables(conn):
        return {}
    rows = conn.execute(text(f"SELECT path, sha256 FROM {REGISTRY}")).all()
    return {str(r[0]): str(r[1]) for r in rows}


def _tables(conn: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


_OUR_FUNCTIONS = (
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')"
    " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
)
"""The schema's own functions and procedures (an extension's are not ours)."""


def drop(conn: Connection) -> None:
    """Drop every function and trigger of the schema (not an extension's; on SQLite the triggers and the
    views they write through) and forget the files."""
    if conn.dialect.name == "postgresql":
        functions = conn.execute(text("SELECT p.oid::regprocedure::text" + _OUR_FUNCTIONS)).scalars()
        for signature in list(functions):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature} CASCADE")  # its triggers too
    else:
        found = conn.execute(text("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"))
        for kind, name in list(found):
            conn.exec_driver_sql(f'DROP {kind.upper()} IF EXISTS "{name}"')
    if REGISTRY in _tables(conn):
        conn.execute(text(f"DELETE FROM {REGISTRY}"))


CATALOG = "#catalog"
"""The registry row holding a digest of the definitions the database runs (as its catalog prints them),
so a function or trigger edited by hand is noticed and installed again from the files."""


def _catalog(conn: Connection) -> str:
    """A digest of every function and trigger definition of the schema, as the database prints them."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT pg_get_functiondef(p.oid)"
                + _OUR_FUNCTIONS
                + " UNION ALL SELECT pg_get_triggerdef(t.oid)"
                " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
            )
        ).scalars()
    else:
        rows = conn.execute(text("SELECT sql FROM sqlite_master WHERE type IN ('trigger', 'view')")).scalars()
    return hashlib.sha256("\n".join(sorted(str(r) for r in rows)).encode("utf-8")).hexdigest()


def install(conn: Connection) -> bool:
    """Install the files of this dialect when the database runs other versions of them, none, or a
    definition edited by hand: drop all code, run every file in order, remember the hashes. Answers
    whether it installed."""
    sources = _sources(conn.dialect.name)
    wanted = {s.path: s.digest() for s in sources}
    have = installed(conn)
    if {k: v for k, v in have.items() if k != CATALOG} == wanted and have.get(CATALOG) == _catalog(conn):
        return False
    drop(conn)
    for source in sources:
        for statement in statements(source.read()):
            conn.exec_driver_sql(statement)
    for path, digest in {**wanted, CATALOG: _catalog(conn)}.items():
        conn.execute(
            text(f"INSERT INTO {REGISTRY} (path, sha256) VALUES (:path, :sha)"), {"path": path, "sha": digest}
        )
    return True


def sync(conn: Connection, *, before: bool, at_head: bool) -> None:
    """The migration environment's hook: ``before`` the versioned steps run (``at_head``: none will),
    drop the code; after them, install it when the database is at the head revision."""
    if before:
        if not at_head:
            drop(conn)
        return
    if at_head:
        install(conn)
