"""PostgreSQL clusters of our own: a scratch primary and its streaming standby on loopback ports.

The drills (``bench/restore_drill.py``, ``bench/sizing.py``) and the standby test
(``tests/integration/test_report_replica.py``) start them from the system's PostgreSQL 15 binaries
(Debian's ``postgresql-15``); the system's server on port 5432 is never touched. As root the servers run
as the ``postgres`` user (``initdb`` refuses root), otherwise as the caller.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["BIN_DIR", "Postgres", "as_postgres", "binaries_present"]

BIN_DIR = Path("/usr/lib/postgresql/15/bin")
READY_TIMEOUT_SECONDS = 120.0


PROGRAMS = ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql", "pgbench")


def binaries_present() -> bool:
    return all((BIN_DIR / name).exists() for name in PROGRAMS)


def as_postgres(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as the ``postgres`` user when we are root (else as ourselves), checked, output kept."""
    if os.geteuid() == 0:
        kwargs.update(user="postgres", group="postgres")
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def own(path: Path) -> None:
    """Give ``path`` (a directory we made) to the user the servers run as."""
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", str(path)], check=True)


class Postgres:
    """One PostgreSQL 15 cluster of ours under ``data`` (started and stopped with pg_ctl)."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self, archive: Path | None = None, settings: str = "") -> None:
        """``initdb`` (trust on loopback, replication allowed), listening on 127.0.0.1 only; with
        ``archive`` every finished WAL segment is copied there."""
        as_postgres([str(BIN_DIR / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8"])  # fmt: skip
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.data}'\n"
                "wal_level = replica\nmax_wal_senders = 4\nmax_connections = 100\n"
            )
            if archive is not None:
                command = f"test ! -f {archive}/%f && cp %p {archive}/%f"
                conf.write(f"archive_mode = on\narchive_command = '{command}'\n")
            conf.write(settings)

    def standby_of(self, primary: Postgres, settings: str = "") -> None:
        """Make this cluster a streaming standby of ``primary`` (running): ``pg_basebackup -R`` (WAL
        streamed during the copy, ``standby.signal`` and ``primary_conninfo`` written), then its own port."""
        source = ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"]
        as_postgres([str(BIN_DIR / "pg_basebackup"), *source, "-D", str(self.data), "-X", "stream", "-R",
                     "--checkpoint=fast"])  # fmt: skip
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.data}'\nhot_standby = on\n")
            conf.write(settings)

    def start(self) -> None:
        as_postgres([str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
                     "-w", "-t", "120", "start"])  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                as_postgres([str(BIN_DIR / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def sql(self, statement: str, database: str = "postgres") -> str:
        return as_postgres(
            [str(BIN_DIR / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             "-At", "-c", statement]
        ).stdout.strip()  # fmt: skip

    def wait_for(self, statement: str, wanted: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until ``statement`` answers ``wanted`` (a standby caught up, a recovery finished)."""
        deadline = time.monotonic() + timeout
        while self.sql(statement) != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port}: {statement!r} did not become {wanted!r}")
            time.sleep(0.1)
