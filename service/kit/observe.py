"""What the service tells its operators: Prometheus metrics, the request id, and JSON log lines.

Metrics live in ``prometheus_client``'s default registry. Under ``jifen serve`` the command sets
``PROMETHEUS_MULTIPROC_DIR`` before granian starts its workers, so every worker writes its values to
memory-mapped files there and a scrape of any worker adds them all up (``collect``). Without it (tests
building the app in-process, ``jifen`` subcommands) the values stay in the process.

Every update is a counter or histogram write: no clock read beyond the request's own, no database
query, no lock other than the client's own (the hot paths are benchmarked against pgbench).
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from sqlalchemy import event
from sqlalchemy.orm import Session

__all__ = [
    "BATCH_SIZE",
    "BATCH_WAIT",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "JOB_RUNS",
    "JOB_SECONDS",
    "METRICS_MEDIA_TYPE",
    "POINTS_ISSUED",
    "POINTS_SPENT",
    "POOL_IN_USE",
    "POOL_SIZE",
    "REPORT_READS",
    "REQUEST_ID",
    "JsonFormatter",
    "count_points",
    "count_points_on_commit",
    "exposition",
    "multiprocess_dir",
    "watch_pool",
]

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUEST_ID: ContextVar[str] = ContextVar("jifen_request_id", default="")
"""The id of the request being served (empty outside one); logged with every line and shown on error
pages, so a resident's screenshot leads to the log line."""

LATENCY_BUCKETS_SECONDS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
JOB_BUCKETS_SECONDS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)

HTTP_REQUESTS = Counter(
    "jifen_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_SECONDS = Histogram(
    "jifen_http_request_duration_seconds",
    "Time from a request's arrival in the app to its last response byte, by method and route template.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS_SECONDS,
)
BATCH_SIZE = Histogram(
    "jifen_batch_size",
    "Items per group-commit batch (one database call each), by path.",
    ("path",),
    buckets=BATCH_BUCKETS,
)
BATCH_WAIT = Histogram(
    "jifen_batch_wait_seconds",
    "Time an item waited in its group-commit queue before its batch went to the database, by path.",
    ("path",),
    buckets=LATENCY_BUCKETS_SECONDS,
)
POOL_IN_USE = Gauge(
    "jifen_db_pool_in_use",
    "Database connections checked out of the pools (summed over the live workers).",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "jifen_db_pool_size",
    "Connections the pools may hold without overflow (summed over the live workers).",
    multiprocess_mode="livesum",
)
JOB_RUNS = Counter(
    "jifen_job_runs", "Periodic job runs, by job and outcome (ok or failed).", ("job", "outcome")
)
JOB_SECONDS = Histogram(
    "jifen_job_duration_seconds",
    "Time one run of a periodic job took.",
    ("job",),
    buckets=JOB_BUCKETS_SECONDS,
)
POINTS_ISSUED = Counter(
    "jifen_points_issued",
    "Points issued to members (from the community's issuance account), by community, once committed.",
    ("community",),
)
POINTS_SPENT = Counter(
    "jifen_points_spent",
    "Points members spent at the store and partner shops, by community, once committed.",
    ("community",),
)
REPORT_READS = Counter(
    "jifen_report_reads",
    "Reports read, by where (replica or primary) and why there (fresh, unset, stale, unavailable, "
    "not_standby).",
    ("source", "reason"),
)


def multiprocess_dir() -> str | None:
    """The directory the workers share their values through, when ``jifen serve`` set one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """Every metric in Prometheus' text format: all workers' values under ``jifen serve``, else this
    process's."""
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest()
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


# ---------------------------------------------------------------- points, counted when they commit

_PENDING = "jifen_points"


def count_points(community_id: object, *, issued: int = 0, spent: int = 0) -> None:
    """Count points a committed batch moved (the fast paths commit their own batches)."""
    label = str(community_id)
    if issued:
        POINTS_ISSUED.labels(label).inc(issued)
    if spent:
        POINTS_SPENT.labels(label).inc(spent)


def count_points_on_commit(
    session: Session, community_id: object, *, issued: int = 0, spent: int = 0
) -> None:
    """Count points a transfer of ``session``'s transaction moved, when (and only if) it commits: a
    transaction rolled back (a deadlock retried, an error) counts nothing."""
    session.info.setdefault(_PENDING, []).append((community_id, issued, spent))


@event.listens_for(Session, "after_commit")
def _counted(session: Session) -> None:
    for community_id, issued, spent in session.info.pop(_PENDING, ()):
        count_points(community_id, issued=issued, spent=spent)


@event.listens_for(Session, "after_soft_rollback")
def _dropped(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)


# ---------------------------------------------------------------- the pool


def watch_pool(pool: Any, size: int) -> None:
    """Keep the pool gauges current through the pool's own checkout and checkin events."""
    POOL_SIZE.inc(size)
    event.listen(pool, "checkout", lambda *_args: POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_args: POOL_IN_USE.dec())


# ---------------------------------------------------------------- logs


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request id, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
