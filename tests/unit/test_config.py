"""Settings from JIFEN_* variables: defaults, and misconfiguration that fails at start, clearly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from service.config import ConfigError, Settings

GOOD_SECRET = "s" * 40


def test_defaults_give_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'jifen.db'}"
    assert s.is_sqlite and s.sqlite_path == tmp_path / "jifen.db"
    assert s.timezone == "Asia/Shanghai" and str(s.zone) == "Asia/Shanghai"
    assert s.log_level == "INFO"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.env == "development"
    assert s.fast_paths is True
    assert len(s.secret_key) >= 32


def test_values_are_read_and_tidied(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "JIFEN_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/jifen",
            "JIFEN_SECRET_KEY": GOOD_SECRET,
            "JIFEN_PUBLIC_URL": "https://jifen.example.cn/",
            "JIFEN_TIMEZONE": "Asia/Urumqi",
            "JIFEN_LOG_LEVEL": "debug",
            "JIFEN_JOBS_INTERVAL_SECONDS": "0",
            "JIFEN_SECURE_COOKIES": "true",
            "JIFEN_FAST_PATHS": "0",
        }
    )
    assert not s.is_sqlite and s.sqlite_path is None
    assert s.public_url == "https://jifen.example.cn"
    assert s.log_level == "DEBUG"
    assert s.jobs_interval_seconds == 0 and s.secure_cookies
    assert s.fast_paths is False
    assert s.secret_key == GOOD_SECRET


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"JIFEN_DATABASE_URL": "mysql://x/y"}, "JIFEN_DATABASE_URL"),
        ({"JIFEN_DATABASE_URL": "sqlite:///plain-driver.db"}, "JIFEN_DATABASE_URL"),
        ({"JIFEN_PUBLIC_URL": "jifen.example.cn"}, "JIFEN_PUBLIC_URL"),
        ({"JIFEN_TIMEZONE": "Mars/Olympus"}, "JIFEN_TIMEZONE"),
        ({"JIFEN_TIMEZONE": "../../etc/passwd"}, "JIFEN_TIMEZONE"),
        ({"JIFEN_LOG_LEVEL": "LOUD"}, "JIFEN_LOG_LEVEL"),
        ({"JIFEN_ENV": "staging"}, "JIFEN_ENV"),
        ({"JIFEN_JOBS_INTERVAL_SECONDS": "soon"}, "JIFEN_JOBS_INTERVAL_SECONDS"),
        ({"JIFEN_JOBS_INTERVAL_SECONDS": "-5"}, "JIFEN_JOBS_INTERVAL_SECONDS"),
        ({"JIFEN_SECRET_KEY": "short"}, "JIFEN_SECRET_KEY"),
        ({"JIFEN_FAST_PATHS": "maybe"}, "JIFEN_FAST_PATHS"),
    ],
)
def test_misconfiguration_fails_with_a_message_naming_the_variable(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    env = {"JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'j.db'}", **env}
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(env)


def test_production_without_a_secret_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JIFEN_SECRET_KEY is required"):
        Settings.from_env(
            {"JIFEN_ENV": "production", "JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/j.db"}
        )
    assert not (tmp_path / ".jifen-secret").exists()


def test_postgres_without_a_secret_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="JIFEN_SECRET_KEY"):
        Settings.from_env({"JIFEN_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/jifen"})


def test_production_with_a_secret_starts(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "JIFEN_ENV": "production",
            "JIFEN_SECRET_KEY": GOOD_SECRET,
            "JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/j.db",
        }
    )
    assert s.secret_key == GOOD_SECRET
    assert not (tmp_path / ".jifen-secret").exists()


def test_generated_secret_is_stored_beside_the_sqlite_file_and_reused(tmp_path: Path) -> None:
    env = {"JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'jifen.db'}"}
    first = Settings.from_env(env)
    key_file = tmp_path / "data" / ".jifen-secret"
    assert key_file.read_text().strip() == first.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600  # other users cannot read it
    again = Settings.from_env(env)
    assert again.secret_key == first.secret_key  # restarts keep everyone logged in
    other = Settings.from_env({"JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'other' / 'j.db'}"})
    assert other.secret_key != first.secret_key


@pytest.mark.parametrize(
    ("raw", "on"), [("1", True), ("ON", True), ("yes", True), ("0", False), ("False", False)]
)
def test_fast_paths_switch_reads_the_usual_spellings(tmp_path: Path, raw: str, on: bool) -> None:
    env = {"JIFEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'j.db'}", "JIFEN_FAST_PATHS": raw}
    assert Settings.from_env(env).fast_paths is on


PG = "postgresql+asyncpg://jifen@10.0.0.1/jifen"


def test_the_report_standby_is_read_with_its_bound() -> None:
    s = Settings.from_env(
        {
            "JIFEN_DATABASE_URL": PG,
            "JIFEN_SECRET_KEY": GOOD_SECRET,
            "JIFEN_REPLICA_URL": " postgresql+asyncpg://jifen@10.0.0.2/jifen ",
            "JIFEN_REPLICA_MAX_LAG_SECONDS": "5",
        }
    )
    assert s.replica_url == "postgresql+asyncpg://jifen@10.0.0.2/jifen" and s.replica_max_lag_seconds == 5
    assert Settings.from_env({"JIFEN_DATABASE_URL": PG, "JIFEN_SECRET_KEY": GOOD_SECRET}).replica_url == ""
    assert Settings().replica_max_lag_seconds == 30


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIFEN_DATABASE_URL": "sqlite+aiosqlite:///x.db", "JIFEN_REPLICA_URL": PG}, "needs a PostgreSQL"),
        ({"JIFEN_REPLICA_URL": "sqlite+aiosqlite:///y.db"}, "must start with postgresql\\+asyncpg://"),
        (
            {"JIFEN_REPLICA_URL": "postgresql://jifen@10.0.0.2/jifen"},
            "must start with postgresql\\+asyncpg://",
        ),
        ({"JIFEN_REPLICA_URL": "not a url"}, "is not a database URL"),
        ({"JIFEN_REPLICA_MAX_LAG_SECONDS": "0"}, "at least 1"),
        ({"JIFEN_REPLICA_MAX_LAG_SECONDS": "soon"}, "whole number"),
    ],
)
def test_a_report_standby_that_cannot_work_refuses_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"JIFEN_DATABASE_URL": PG, "JIFEN_SECRET_KEY": GOOD_SECRET, **env})
