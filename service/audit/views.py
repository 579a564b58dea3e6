"""The audit log's read side: a page of events with the names of the people in it, for its readers.

Reads the accounts *tables* for names (a join in the same query): the accounts service records its own
acts here, so the audit package cannot call it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.accounts.models import Community, Member, Membership
from service.audit import rules
from service.audit.errors import CommunityNotFound
from service.audit.models import AuditChain, AuditEvent
from service.errors import Forbidden, raises

if TYPE_CHECKING:
    from service.accounts.actor import Actor

__all__ = ["AuditLog", "AuditView", "ChainReport", "audit_log", "chains", "list_events", "verify_chain"]


@dataclass(frozen=True)
class AuditView:
    """An event with the names of the people in it, for lists."""

    event: AuditEvent
    actor_name: str | None
    subject_name: str | None


@raises(CommunityNotFound, Forbidden)
async def _check_reader(db: AsyncSession, actor: Actor, community_id: uuid.UUID | None) -> None:
    if actor.is_platform_admin:
        if community_id is not None and await db.get(Community, community_id) is None:
            raise CommunityNotFound()
        return
    if community_id is not None:
        admin = await db.scalar(
            select(Membership.id).where(
                Membership.member_id == actor.member_id,
                Membership.community_id == community_id,
                Membership.role == "admin",
            )
        )
        if admin is not None:
            return
    raise Forbidden(detail="You do not have the role this needs in this community.")


@raises(_check_reader)
async def list_events(
    db: AsyncSession,
    actor: Actor,
    *,
    community_id: uuid.UUID | None,
    limit: int,
    before: uuid.UUID | None = None,
    since: datetime | None = None,
) -> tuple[list[AuditView], uuid.UUID | None]:
    """Events newest first: one community's (its admins, platform admins) or all (platform admins).

    Returns the page and the id to pass as ``before`` for the next page (None on the last page).
    """
    await _check_reader(db, actor, community_id)
    who, whom = aliased(Member), aliased(Member)
    stmt = (
        select(AuditEvent, who.name, whom.name)
        .outerjoin(who, who.id == AuditEvent.actor_id)
        .outerjoin(whom, whom.id == AuditEvent.subject_member_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit + 1)
    )
    if community_id is not None:
        stmt = stmt.where(AuditEvent.community_id == community_id)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    rows = [AuditView(event=e, actor_name=a, subject_name=s) for e, a, s in (await db.execute(stmt)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].event.id if more else None)


@dataclass(frozen=True)
class AuditLog:
    """The audit page: a page of events, the communities they happened in, and where the next starts."""

    events: list[AuditView]
    communities: dict[uuid.UUID, Community]
    last: uuid.UUID | None


@raises(list_events)
async def audit_log(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID | None, limit: int, before: uuid.UUID | None
) -> AuditLog:
    """One page of the log (one community's, or every community's for a platform admin): two queries."""
    events, last = await list_events(db, actor, community_id=community_id, limit=limit, before=before)
    ids = {v.event.community_id for v in events if v.event.community_id is not None}
    found = list(await db.scalars(select(Community).where(Community.id.in_(ids)))) if ids else []
    return AuditLog(events=events, communities={c.id: c for c in found}, last=last)


VERIFY_BATCH = 1000
"""Events read per query while a chain is checked (a chain of any length in bounded memory)."""


@dataclass
class ChainReport:
    """What :func:`verify_chain` found: ``problem`` names the first broken event (None: the chain holds)."""

    chain: str
    events_checked: int = 0
    problem: str | None = None
    event_id: uuid.UUID | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def chains(db: AsyncSession) -> list[str]:
    """Every chain there is: those with a head and those with events (a head deleted is a chain too)."""
    heads = set(await db.scalars(select(AuditChain.chain)))
    return sorted(heads | set(await db.scalars(select(AuditEvent.chain).distinct())))


async def verify_chain(db: AsyncSession, chain: str) -> ChainReport:
    """Recompute one chain from its first event and stop at the first that does not follow: a ``seq``
    out of place (an event deleted or moved), a ``prev_hash`` that is not the previous event's hash, or a
    hash that is not the hash of the event's own fields (an edit). The chain's head row must name the
    last event (events deleted from the end)."""
    report = ChainReport(chain)
    prev, seq = rules.GENESIS_HASH, 0
    while True:
        batch = list(
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.chain == chain, AuditEvent.seq > seq)
                .order_by(AuditEvent.seq)
                .limit(VERIFY_BATCH)
            )
        )
        for e in batch:
            problem = _broken(e, prev, seq + 1)
            if problem:
                report.problem, report.event_id = problem, e.id
                return report
            prev, seq = e.hash, e.seq
            report.events_checked += 1
        db.expunge_all()
        if len(batch) < VERIFY_BATCH:
            break
    head = (
        await db.execute(select(AuditChain.seq, AuditChain.last_hash).where(AuditChain.chain == chain))
    ).first()
    if head is None or (int(head.seq), str(head.last_hash)) != (seq, prev):
        report.problem = (
            f"the chain's head says {head.seq if head else 'nothing'}: events after {seq} are missing"
        )
    return report


def _broken(e: AuditEvent, prev: str, seq: int) -> str | None:
    if e.seq != seq:
        return f"seq {e.seq} where {seq} was due (an event deleted or moved)"
    if e.prev_hash != prev:
        return f"prev_hash is not the hash of event {seq - 1} (events reordered or replaced)"
    digest = rules.event_hash(
        prev,
        event_id=e.id,
        chain=e.chain,
        seq=e.seq,
        community_id=e.community_id,
        actor_id=e.actor_id,
        action=e.action,
        subject_member_id=e.subject_member_id,
        detail=e.detail,
        client_addr=e.client_addr,
        created_at=e.created_at,
    )
    if digest != e.hash or e.chain not in rules.chain_shards(e.community_id):
        return "hash does not match the event's fields (edited)"
    return None
