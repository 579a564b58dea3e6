"""Commands of residents' own data that are not the accounts domain's: the download is recorded."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.actor import Actor
from service.audit.service import record
from service.privacy import views

__all__ = ["download"]


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
