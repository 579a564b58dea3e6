"""The two database URLs (app and migrations), the app role, and the SQL of `jifen db roles`."""

from __future__ import annotations

import pytest

from service.cli import main
from service.config import ConfigError, Settings

SECRET = "s" * 40
APP = "postgresql+asyncpg://jifen_app:pw@db-host:5432/jifen"
OWNER = "postgresql+asyncpg://jifen_owner:pw@db-host:5432/jifen"


def settings(**env: str) -> Settings:
    return Settings.from_env({"JIFEN_SECRET_KEY": SECRET, **env})


def test_without_a_migration_url_migrations_use_the_app_url_and_grant_nothing(tmp_path: object) -> None:
    sqlite = settings(JIFEN_DATABASE_URL="sqlite+aiosqlite:///x.db")
    assert sqlite.migration_url == sqlite.database_url and sqlite.app_role is None
    one_role = settings(JIFEN_DATABASE_URL=APP)
    assert one_role.migration_url == APP and one_role.app_role is None
    assert not one_role.allow_privileged_database


def test_with_a_migration_url_the_app_urls_user_is_granted_unless_named() -> None:
    s = settings(JIFEN_DATABASE_URL=APP, JIFEN_MIGRATION_DATABASE_URL=OWNER)
    assert s.database_url == APP and s.migration_url == OWNER and s.app_role == "jifen_app"
    named = settings(JIFEN_DATABASE_URL=APP, JIFEN_MIGRATION_DATABASE_URL=OWNER, JIFEN_APP_DB_ROLE="web")
    assert named.app_role == "web"
    same_user = settings(JIFEN_DATABASE_URL=APP, JIFEN_MIGRATION_DATABASE_URL=APP.replace(":pw@", ":other@"))
    assert same_user.app_role is None  # never revoke the owner's own rights
    opt_out = settings(JIFEN_DATABASE_URL=APP, JIFEN_ALLOW_PRIVILEGED_DATABASE="1")
    assert opt_out.allow_privileged_database


@pytest.mark.parametrize(
    "migration_url",
    [
        "postgresql+asyncpg://jifen_owner@db-host:5432/other",
        "postgresql+asyncpg://jifen_owner@elsewhere:5432/jifen",
        "sqlite+aiosqlite:///jifen.db",
        "not a url",
    ],
)
def test_a_migration_url_for_another_database_stops_the_start(migration_url: str) -> None:
    with pytest.raises(ConfigError, match="JIFEN_MIGRATION_DATABASE_URL"):
        settings(JIFEN_DATABASE_URL=APP, JIFEN_MIGRATION_DATABASE_URL=migration_url)


def test_on_sqlite_the_migration_url_must_name_the_same_file() -> None:
    with pytest.raises(ConfigError, match="JIFEN_MIGRATION_DATABASE_URL"):
        settings(
            JIFEN_DATABASE_URL="sqlite+aiosqlite:///a.db",
            JIFEN_MIGRATION_DATABASE_URL="sqlite+aiosqlite:///b.db",
        )
    s = settings(
        JIFEN_DATABASE_URL="sqlite+aiosqlite:///a.db", JIFEN_MIGRATION_DATABASE_URL="sqlite+aiosqlite:///a.db"
    )
    assert s.app_role is None


def test_db_roles_prints_the_sql_for_both_roles_and_the_two_urls(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "db",
            "roles",
            "--owner-role",
            "jifen_owner",
            "--app-role",
            "jifen_app",
            "--app-password",
            "it's-secret",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert 'CREATE ROLE "jifen_owner" LOGIN NOSUPERUSER' in out
    assert 'CREATE ROLE "jifen_app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' in out
    assert "PASSWORD 'it''s-secret'" in out  # quoted as an SQL literal
    assert "EXCEPTION WHEN duplicate_object" in out
    assert 'ALTER DATABASE "jifen" OWNER TO "jifen_owner"' in out
    assert 'GRANT CONNECT ON DATABASE "jifen" TO "jifen_app"' in out
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in out
    assert "JIFEN_MIGRATION_DATABASE_URL=postgresql+asyncpg://jifen_owner:" in out
    assert "JIFEN_DATABASE_URL=postgresql+asyncpg://jifen_app:it's-secret@db-host:5432/jifen" in out


def test_db_roles_refuses_role_names_that_need_quoting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "roles", "--app-role", 'app"; DROP ROLE postgres; --']) == 2
    assert "role names" in capsys.readouterr().err
    assert main(["db", "roles", "--execute"]) == 2  # --execute needs a superuser's URL
    assert "--admin-url" in capsys.readouterr().err
