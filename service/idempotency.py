"""Idempotency keys for writes that move points: a retry returns the first response.

The key row is inserted first in the request's own transaction, so a concurrent duplicate waits on
the unique index (PostgreSQL) or on the write lock (SQLite) and then reads the stored response; a
refused request rolls back with its key, so fixing the input and retrying works.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import LargeBinary, String, UniqueConstraint, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from service import clock
from service.db import Base, IdMixin, is_postgres
from service.errors import Conflict, InvalidInput, raises

__all__ = [
    "IDEMPOTENCY_KEY_MAX",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "IdempotencyRecord",
    "InvalidIdempotencyKey",
    "run_once",
]

IDEMPOTENCY_KEY_MAX = 128


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_keys"

    actor_id: Mapped[uuid.UUID]
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(default=None)
    response: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (UniqueConstraint("actor_id", "scope", "key", name="once"),)


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1-%(max)s characters."


class IdempotencyKeyReused(Conflict):
    """The key came with a different request than the first time."""

    code = "idempotency_conflict"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "The first request with this key is still running."


@raises(InvalidIdempotencyKey, IdempotencyKeyReused, IdempotencyInProgress)
async def run_once(
    db: AsyncSession,
    actor_id: uuid.UUID,
    key: str | None,
    scope: str,
    request_body: bytes,
    work: Callable[[], Awaitable[tuple[int, bytes]]],
) -> tuple[int, bytes]:
    """Run ``work`` once per (actor, scope, key); return its (status, encoded body) now and on retries."""
    if key is None:
        return await work()
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidIdempotencyKey(params={"max": IDEMPOTENCY_KEY_MAX})
    digest = hashlib.sha256(scope.encode() + b"\0" + request_body).hexdigest()
    values = {
        "id": uuid.uuid4(),
        "actor_id": actor_id,
        "scope": scope,
        "key": key,
        "request_hash": digest,
        "created_at": clock.now(),
    }
    insert = pg_insert if is_postgres(db) else sqlite_insert
    stmt = insert(IdempotencyRecord).values(**values).on_conflict_do_nothing().returning(IdempotencyRecord.id)
    inserted = (await db.execute(stmt)).scalar_one_or_none()
    if inserted is None:
        record = await db.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.actor_id == actor_id,
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
            )
        )
        if record is None or record.request_hash != digest:
            raise IdempotencyKeyReused()
        if record.status_code is None or record.response is None:
            raise IdempotencyInProgress()
        return record.status_code, record.response
    status, body = await work()
    record = await db.get(IdempotencyRecord, inserted)
    if record is not None:
        record.status_code, record.response = status, body
        await db.flush()
    return status, body
