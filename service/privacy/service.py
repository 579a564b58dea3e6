"""Commands of residents' own data that are not the accounts domain's: the download is recorded."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import privacy
from service.accounts.actor import Actor
from service.audit.service import record
from service.errors import raises
from service.notices import service as notices
from service.privacy import views
from service.wishes import service as wishes

__all__ = ["decide", "download"]


@raises(privacy.decide_request)
async def decide(
    db: AsyncSession, actor: Actor, request_id: uuid.UUID, decision: str, note: str | None = None
) -> privacy.DecidedRequest:
    """An admin decides a correction or deletion request (``accounts.privacy.decide_request``); a granted
    deletion also forgets what other domains hold in words about the person: their wishes' addresses and
    call bindings, and their notices."""
    row = await privacy.decide_request(db, actor, request_id, decision, note)
    if row.kind == "deletion" and row.status == "granted":
        await wishes.forget_addresses(db, row.member_id)
        await notices.forget(db, row.member_id)
    return row


async def download(db: AsyncSession, actor: Actor, fmt: str) -> dict[str, list[dict[str, Any]]]:
    """Everything held about the caller; the download itself is audited (who, when, which format)."""
    data = await views.my_data(db, actor.member_id)
    await record(
        db,
        actor_id=actor.member_id,
        action="personal_data_exported",
        subject_member_id=actor.member_id,
        detail={"format": fmt},
    )
    return data
