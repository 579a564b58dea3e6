"""Settings from ``JIFEN_*`` environment variables, and the named limits every module shares."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BODY_MAX_BYTES",
    "CALL_BACKENDS",
    "LIST_LIMIT_DEFAULT",
    "LIST_LIMIT_MAX",
    "LOGIN_FAILURES_MAX",
    "LOGIN_IP_FAILURES_MAX",
    "LOGIN_WINDOW_SECONDS",
    "METRICS_TOKEN_MIN",
    "NAME_MAX",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "POINTS_PER_AWARD_MAX",
    "SMS_BACKENDS",
    "TEXT_MAX",
    "TITLE_MAX",
    "TOKEN_LIFETIME_SECONDS",
    "ConfigError",
    "Settings",
]

NAME_MAX = 64
"""Longest person, community or shop name, in characters."""
TITLE_MAX = 120
"""Longest title of an activity, product, offer, rule or wish."""
TEXT_MAX = 4000
"""Longest free text (description, memo, evidence)."""
PASSWORD_MIN = 8
PASSWORD_MAX = 128
BODY_MAX_BYTES = 1_048_576
"""Largest JSON request body; uploads have their own limit."""
UPLOAD_MAX_BYTES = 5 * 1_048_576
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200
POINTS_PER_AWARD_MAX = 100_000
"""Largest number of points a single transfer may move."""
TOKEN_LIFETIME_SECONDS = 14 * 24 * 3600
"""Lifetime of a login token (bearer and cookie)."""
TOKEN_CHECK_TTL_SECONDS = 5.0
"""How long a worker trusts its copy of a member's token version (and name, phone, platform-admin
flag) before reading the database again: a login ended on another worker (logout, password reset)
stops working there within this bound; on the worker that ended it, at once."""
LOGIN_FAILURES_MAX = 5
"""Login attempts per phone in a window before 429: at most this many passwords are checked."""
LOGIN_IP_FAILURES_MAX = 100
"""Failed logins per client address in a window before that address is slowed. A whole office or a
carrier NAT shares one address, so this only refuses phones that have failures of their own."""
LOGIN_WINDOW_SECONDS = 15 * 60
IMPORT_ROWS_MAX = 200_000
METRICS_TOKEN_MIN = 16
"""Shortest metrics token: the scraper's only key to the figures."""
SMS_BACKENDS = ("console", "http", "off")
CALL_BACKENDS = ("console", "http", "off")
"""How a wish's volunteer calls its requester: through a privacy number (隐私号, AXB binding)."""
"""Where one-time SMS codes go: the log (development, tests), an SMS provider over HTTP, or nowhere."""


class ConfigError(RuntimeError):
    """The environment describes a deployment Jifen cannot start."""


def _default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / 'jifen.db'}"


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Build them with :meth:`from_env`; tests build them directly."""

    database_url: str = field(default_factory=_default_database_url)
    """``JIFEN_DATABASE_URL``: ``sqlite+aiosqlite:///path.db`` or ``postgresql+asyncpg://user@host/db``.
    The server connects with it; on PostgreSQL in production its role must own nothing."""
    migration_database_url: str = ""
    """``JIFEN_MIGRATION_DATABASE_URL``: the same database as the role that owns the tables; migrations
    and the grant step run with it (empty: ``database_url``, which is all SQLite needs)."""
    app_db_role: str = ""
    """``JIFEN_APP_DB_ROLE``: the role granted the app's privileges after every upgrade (empty: the user
    of ``database_url`` when the migration URL is another one)."""
    allow_privileged_database: bool = False
    """``JIFEN_ALLOW_PRIVILEGED_DATABASE``: let ``jifen serve`` start in production although the app's
    role is a superuser or owns tables (not recommended)."""
    secret_key: str = ""
    """``JIFEN_SECRET_KEY``: signs login tokens and QR codes (made beside a SQLite file in development)."""
    public_url: str = "http://127.0.0.1:8000"
    """``JIFEN_PUBLIC_URL``: the base URL that QR codes encode; phones must reach it."""
    timezone: str = "Asia/Shanghai"
    """``JIFEN_TIMEZONE``: the default time zone in which times are shown."""
    log_level: str = "INFO"
    """``JIFEN_LOG_LEVEL``: DEBUG, INFO, WARNING or ERROR."""
    env: str = "development"
    """``JIFEN_ENV``: ``development`` or ``production`` (production requires a secret key)."""
    jobs_interval_seconds: int = 60
    """``JIFEN_JOBS_INTERVAL_SECONDS``: how often the in-server periodic jobs run (0 turns them off)."""
    secure_cookies: bool = False
    """``JIFEN_SECURE_COOKIES``: mark cookies Secure (set it when served over HTTPS)."""
    trusted_proxies: tuple[str, ...] = ()
    """``JIFEN_TRUSTED_PROXIES``: comma-separated IPs or CIDRs of reverse proxies whose
    ``X-Forwarded-For`` names the client; from any other peer the header is ignored."""
    sms_backend: str = "console"
    """``JIFEN_SMS_BACKEND``: ``console`` (log the code; default in development), ``http`` or ``off``
    (default in production, where only a configured provider may send)."""
    sms_url: str = ""
    """``JIFEN_SMS_URL``: with ``http``, the provider endpoint that takes a JSON ``{phone, text}`` POST."""
    sms_token: str = ""
    """``JIFEN_SMS_TOKEN``: with ``http``, sent as ``Authorization: Bearer <token>``."""
    call_backend: str = "console"
    """``JIFEN_CALL_BACKEND``: how a wish's volunteer calls its requester without seeing the number.
    ``console`` (default in development) answers a fixed relay number per binding and logs it; ``http``
    asks a privacy-number (隐私号, AXB) provider to bind volunteer and requester for the wish's time; ``off``
    (default in production, until a provider is configured) offers no call button."""
    call_url: str = ""
    """``JIFEN_CALL_URL``: with ``http``, the endpoint that takes a JSON ``{a, b, ref, expires_at}`` POST and
    answers ``{relay_number}``."""
    call_token: str = ""
    """``JIFEN_CALL_TOKEN``: with ``http``, sent as ``Authorization: Bearer <token>``."""
    metrics_token: str = ""
    """``JIFEN_METRICS_TOKEN``: ``GET /metrics`` answers only with ``Authorization: Bearer <token>`` (401
    without it); empty (the default): ``/metrics`` does not exist (404). At least 16 characters."""
    metrics_dir: str = ""
    """``JIFEN_METRICS_DIR``: where ``jifen serve``'s workers share their metrics (emptied at every start;
    empty: a new temporary directory). Keep it on a memory file system such as ``/dev/shm`` or ``/run``."""
    log_json: bool = True
    """``JIFEN_LOG_JSON``: ``1`` (default) logs one JSON object per line (time, level, logger, message,
    request id); ``0`` logs plain text lines for a developer's terminal."""
    id_key: str = ""
    """``JIFEN_ID_KEY``: the key that encrypts ID numbers at rest (AES-256-GCM) and keys their look-up
    hash (HMAC-SHA256); any string (it is stretched with HKDF). Unset: derived from ``secret_key``, so
    changing the secret key then makes stored ID numbers unreadable (see README, Records)."""
    pdf_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    """``JIFEN_PDF_FONT``: a TrueType font (or .ttc collection) with Chinese glyphs that certificates'
    PDFs embed; when the file is missing, the PDF uses the viewer's built-in STSong-Light instead."""
    replica_url: str = ""
    """``JIFEN_REPLICA_URL``: a streaming standby of the PostgreSQL primary (``postgresql+asyncpg://``, the
    app's role) that the reports' pages and exports read from while it is within
    ``replica_max_lag_seconds``; everything else stays on the primary. Empty (the default): no standby."""
    replica_max_lag_seconds: int = 30
    """``JIFEN_REPLICA_MAX_LAG_SECONDS``: the most the standby's data may be behind the primary for a report
    to read it (else the report reads the primary); the report shows the time its data is as of."""
    signing_key: str = ""
    """``JIFEN_SIGNING_KEY``: the Ed25519 key (a base64url 32-byte seed) that signs member cards' and
    volunteers' personal codes, which offline scanners verify. Unset: one key is generated the first time
    it is needed and kept in the database (``signing_keys``), the same for every worker. Codes name
    their key's id, and every key used stays listed, so a new key does not void printed cards."""
    fast_paths: bool = True
    """``JIFEN_FAST_PATHS``: ``1`` (default) sends plain scans through the batched scan path and, on
    PostgreSQL, plain redemptions and orders through the store's one-call paths; ``0`` sends every one on
    the ordinary path (the before of an A/B bench). Either way the answers are the same."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read settings from the environment, failing loudly on anything unusable."""
        env = dict(os.environ if environ is None else environ)
        defaults = cls()
        settings = cls(
            database_url=env.get("JIFEN_DATABASE_URL", defaults.database_url),
            migration_database_url=env.get("JIFEN_MIGRATION_DATABASE_URL", ""),
            app_db_role=env.get("JIFEN_APP_DB_ROLE", ""),
            allow_privileged_database=env.get("JIFEN_ALLOW_PRIVILEGED_DATABASE", "").lower()
            in {"1", "true", "yes"},
            secret_key=env.get("JIFEN_SECRET_KEY", ""),
            public_url=env.get("JIFEN_PUBLIC_URL", defaults.public_url).rstrip("/"),
            timezone=env.get("JIFEN_TIMEZONE", defaults.timezone),
            log_level=env.get("JIFEN_LOG_LEVEL", defaults.log_level).upper(),
            env=env.get("JIFEN_ENV", defaults.env),
            jobs_interval_seconds=_int(env, "JIFEN_JOBS_INTERVAL_SECONDS", defaults.jobs_interval_seconds),
            secure_cookies=env.get("JIFEN_SECURE_COOKIES", "").lower() in {"1", "true", "yes"},
            trusted_proxies=tuple(
                p.strip() for p in env.get("JIFEN_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            sms_backend=env.get(
                "JIFEN_SMS_BACKEND", "off" if env.get("JIFEN_ENV") == "production" else defaults.sms_backend
            ).lower(),
            sms_url=env.get("JIFEN_SMS_URL", ""),
            sms_token=env.get("JIFEN_SMS_TOKEN", ""),
            call_backend=env.get(
                "JIFEN_CALL_BACKEND",
                "off" if env.get("JIFEN_ENV") == "production" else defaults.call_backend,
            ).lower(),
            call_url=env.get("JIFEN_CALL_URL", ""),
            call_token=env.get("JIFEN_CALL_TOKEN", ""),
            metrics_token=env.get("JIFEN_METRICS_TOKEN", "").strip(),
            metrics_dir=env.get("JIFEN_METRICS_DIR", ""),
            log_json=_switch(env, "JIFEN_LOG_JSON", defaults.log_json),
            fast_paths=_switch(env, "JIFEN_FAST_PATHS", defaults.fast_paths),
            id_key=env.get("JIFEN_ID_KEY", ""),
            pdf_font=env.get("JIFEN_PDF_FONT", defaults.pdf_font),
            replica_url=env.get("JIFEN_REPLICA_URL", "").strip(),
            replica_max_lag_seconds=_int(
                env, "JIFEN_REPLICA_MAX_LAG_SECONDS", defaults.replica_max_lag_seconds
            ),
            signing_key=env.get("JIFEN_SIGNING_KEY", "").strip(),
        )
        return settings.validated()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migration_url(self) -> str:
        """Where migrations run: ``JIFEN_MIGRATION_DATABASE_URL``, else the app's own URL."""
        return self.migration_database_url or self.database_url

    @property
    def app_role(self) -> str | None:
        """The PostgreSQL role to grant the app's privileges after an upgrade, or None (SQLite, or the
        app and the migrations connect as one role)."""
        if self.is_sqlite:
            return None
        if self.app_db_role:
            return self.app_db_role
        if self.migration_url == self.database_url:
            return None
        app_user = _url_user(self.database_url)
        return app_user if app_user and app_user != _url_user(self.migration_url) else None

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split(":///", 1)[-1]
        return None if raw in {"", ":memory:"} else Path(raw)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    def validated(self) -> Settings:
        """Return settings with a secret key, or raise :class:`ConfigError` saying what is wrong."""
        if not (
            self.database_url.startswith("sqlite+aiosqlite://")
            or self.database_url.startswith("postgresql+asyncpg://")
        ):
            raise ConfigError(
                "JIFEN_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {self.database_url!r})"
            )
        if self.migration_database_url:
            _check_migration_url(self.database_url, self.migration_database_url)
        if self.replica_url:
            _check_replica_url(self.database_url, self.replica_url)
        if self.replica_max_lag_seconds < 1:
            raise ConfigError("JIFEN_REPLICA_MAX_LAG_SECONDS must be at least 1")
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"JIFEN_PUBLIC_URL must be an http(s) URL (got {self.public_url!r})")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"JIFEN_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"JIFEN_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR (got {self.log_level!r})"
            )
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"JIFEN_TRUSTED_PROXIES must list IP addresses or CIDRs (got {proxy!r})"
                ) from exc
        if self.env not in {"development", "production"}:
            raise ConfigError(f"JIFEN_ENV must be development or production (got {self.env!r})")
        if self.sms_backend not in SMS_BACKENDS:
            raise ConfigError(f"JIFEN_SMS_BACKEND must be console, http or off (got {self.sms_backend!r})")
        if self.sms_backend == "http" and not self.sms_url.startswith(("http://", "https://")):
            raise ConfigError("JIFEN_SMS_BACKEND=http needs JIFEN_SMS_URL, the provider's http(s) URL")
        if self.call_backend not in CALL_BACKENDS:
            raise ConfigError(f"JIFEN_CALL_BACKEND must be console, http or off (got {self.call_backend!r})")
        if self.call_backend == "http" and not self.call_url.startswith(("http://", "https://")):
            raise ConfigError("JIFEN_CALL_BACKEND=http needs JIFEN_CALL_URL, the provider's http(s) URL")
        if self.metrics_token and len(self.metrics_token) < METRICS_TOKEN_MIN:
            raise ConfigError(f"JIFEN_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN} characters")
        if self.signing_key and not _is_seed(self.signing_key):
            raise ConfigError("JIFEN_SIGNING_KEY must be 32 bytes in base64url (43 characters)")
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise ConfigError("JIFEN_SECRET_KEY must be at least 32 characters")
            return self
        if self.env == "production" or not self.is_sqlite:
            raise ConfigError("JIFEN_SECRET_KEY is required in production and with PostgreSQL")
        return _with_generated_secret(self)


def _with_generated_secret(settings: Settings) -> Settings:
    """Development only: keep a generated key beside the SQLite file so restarts keep sessions."""
    path = settings.sqlite_path
    if path is None:
        return _replace(settings, secret_key=secrets.token_urlsafe(48))
    key_file = path.parent / ".jifen-secret"
    if key_file.exists():
        key = key_file.read_text().strip()
    else:
        key = secrets.token_urlsafe(48)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return _replace(settings, secret_key=key)


def _is_seed(text: str) -> bool:
    import base64
    import binascii

    try:
        return len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == 32
    except (binascii.Error, ValueError):
        return False


def _url_user(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    return make_url(url).username


def _check_migration_url(app_url: str, migration_url: str) -> None:
    """The migration URL must reach the database the app uses (another role may connect to it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        app, mig = make_url(app_url), make_url(migration_url)
    except ArgumentError as exc:
        raise ConfigError(
            f"JIFEN_MIGRATION_DATABASE_URL is not a database URL (got {migration_url!r})"
        ) from exc
    if app.drivername != mig.drivername:
        raise ConfigError(
            "JIFEN_MIGRATION_DATABASE_URL must use the same driver as JIFEN_DATABASE_URL "
            f"({app.drivername}, got {mig.drivername})"
        )
    if app.drivername.startswith("sqlite"):
        if app.database != mig.database:
            raise ConfigError("on SQLite JIFEN_MIGRATION_DATABASE_URL must name JIFEN_DATABASE_URL's file")
        return
    if (app.host, app.port, app.database) != (mig.host, mig.port, mig.database):
        raise ConfigError(
            "JIFEN_MIGRATION_DATABASE_URL must reach the same server and database as JIFEN_DATABASE_URL "
            f"({app.host}:{app.port or 5432}/{app.database}, "
            f"got {mig.host}:{mig.port or 5432}/{mig.database})"
        )


def _check_replica_url(app_url: str, replica_url: str) -> None:
    """A standby only makes sense beside a PostgreSQL primary, through the same driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not app_url.startswith("postgresql+asyncpg://"):
        raise ConfigError(
            "JIFEN_REPLICA_URL needs a PostgreSQL JIFEN_DATABASE_URL (a standby of that primary)"
        )
    try:
        replica = make_url(replica_url)
    except ArgumentError as exc:
        raise ConfigError(f"JIFEN_REPLICA_URL is not a database URL (got {replica_url!r})") from exc
    if replica.drivername != "postgresql+asyncpg":
        raise ConfigError(f"JIFEN_REPLICA_URL must start with postgresql+asyncpg:// (got {replica_url!r})")


def _replace(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)  # type: ignore[arg-type]


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number (got {raw!r})") from exc
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    """An on/off variable: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {env[name]!r})")
