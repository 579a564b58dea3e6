"""Database code is source code: every function and trigger is in a listed .sql file, defined once, and
no versioned migration defines any."""

from __future__ import annotations

import re
from pathlib import Path

from service import dbcode

ROOT = Path(__file__).resolve().parents[2]
DEFINES = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|TRIGGER|PROCEDURE)\s+([a-z_0-9]+)", re.I)


def test_every_sql_file_is_installed_and_every_listed_file_exists() -> None:
    on_disk = {str(p.relative_to(ROOT / "service")) for p in (ROOT / "service").rglob("*.sql")}
    listed = [s.path for s in dbcode.SOURCES]
    assert len(listed) == len(set(listed))
    assert on_disk == set(listed), "list every .sql file in service/dbcode.py SOURCES (installation order)"


def test_each_function_and_trigger_is_defined_once_per_dialect() -> None:
    for dialect in ("postgresql", "sqlite"):
        seen: dict[str, str] = {}
        for source in dbcode.SOURCES:
            if source.dialect != dialect:
                continue
            for kind, name in DEFINES.findall(source.read()):
                key = f"{kind.lower()} {name.lower()}"
                assert key not in seen, f"{key} defined in {seen.get(key)} and {source.path}"
                seen[key] = source.path
        assert seen, dialect


def test_no_migration_defines_database_code() -> None:
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        found = DEFINES.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name} defines {found}: database code lives in service/<domain>/sql"


def test_statements_split_outside_dollar_quotes_strings_and_trigger_bodies() -> None:
    sql = """-- a comment; with a semicolon
CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN 'a;b' || $tag$;$tag$;  -- ; here too
END;
$$;
/* block; comment */ SELECT 'it''s; fine';
CREATE TRIGGER t AFTER INSERT ON x BEGIN
  INSERT INTO y VALUES (1);
  INSERT INTO y VALUES (2);
END;
CREATE OR REPLACE TRIGGER u BEFORE UPDATE ON x FOR EACH ROW EXECUTE FUNCTION f();
-- trailing comment
"""
    parts = dbcode.statements(sql)
    assert len(parts) == 4, parts
    assert parts[0].startswith("-- a comment") and parts[0].rstrip().endswith("$$")
    assert parts[1].endswith("SELECT 'it''s; fine'")
    assert parts[2].startswith("CREATE TRIGGER t") and parts[2].endswith("END")
    assert parts[3].startswith("CREATE OR REPLACE TRIGGER u")


def test_every_file_splits_into_statements_that_each_define_or_do_something() -> None:
    for source in dbcode.SOURCES:
        parts = dbcode.statements(source.read())
        assert parts, source.path
        assert len(DEFINES.findall(source.read())) == sum(1 for p in parts if DEFINES.search(p)), source.path
