"""People, not accounts: who was whose household (户), and the one conflict-of-interest check.

A household is one interest. Staff never decide for themselves nor for anyone who was their household
at any time since the matter began: a claim, a wish, a pending award or attendance. The spans are kept
after a link ends (``household_periods``), so removing a link just before deciding lifts nothing.
``service.rewards`` runs the request and confirmation of links and tells this module when a link starts
and ends; every domain that approves, dispatches, confirms or awards asks :func:`conflicted`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts.errors import AccountHeld
from service.accounts.models import HouseholdPeriod, Member
from service.errors import raises

__all__ = ["Span", "conflicted", "end_link", "ever_linked", "linked_in", "spans_of", "start_link"]


def _pair(community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> ColumnElement[bool]:
    return and_(
        HouseholdPeriod.community_id == community_id,
        or_(
            (HouseholdPeriod.member_a == a) & (HouseholdPeriod.member_b == b),
            (HouseholdPeriod.member_a == b) & (HouseholdPeriod.member_b == a),
        ),
    )


async def start_link(db: AsyncSession, community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> None:
    """Two members become a confirmed household now (a span already open stays as it is)."""
    open_span = await db.scalar(
        select(HouseholdPeriod.id).where(_pair(community_id, a, b), HouseholdPeriod.unlinked_at.is_(None))
    )
    if open_span is None:
        db.add(HouseholdPeriod(community_id=community_id, member_a=a, member_b=b, linked_at=clock.now()))
        await db.flush()


async def end_link(db: AsyncSession, community_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> None:
    """The two are no longer a household from now on; the span they were is kept."""
    await db.execute(
        update(HouseholdPeriod)
        .where(_pair(community_id, a, b), HouseholdPeriod.unlinked_at.is_(None))
        .values(unlinked_at=clock.now())
    )


Span = tuple[uuid.UUID, datetime | None]
"""(the other member, when the link ended or None while it lasts)."""


async def spans_of(
    db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID, since: datetime
) -> list[Span]:
    """The member's household links that lasted to ``since`` or later (one query)."""
    rows = await db.execute(
        select(HouseholdPeriod.member_a, HouseholdPeriod.member_b, HouseholdPeriod.unlinked_at).where(
            HouseholdPeriod.community_id == community_id,
            or_(HouseholdPeriod.member_a == member_id, HouseholdPeriod.member_b == member_id),
            or_(HouseholdPeriod.unlinked_at.is_(None), HouseholdPeriod.unlinked_at >= since),
        )
    )
    return [(b if a == member_id else a, ended) for a, b, ended in rows.all()]


def linked_in(spans: Iterable[Span], people: Iterable[uuid.UUID | None], since: datetime) -> bool:
    """Whether any of ``people`` was in ``spans`` (one member's links) at any moment from ``since`` on."""
    wanted = {p for p in people if p is not None}
    return any(other in wanted and (ended is None or ended >= since) for other, ended in spans)


async def ever_linked(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    """Whether the member was ever anyone's household in the community (lists take a slower, exact path)."""
    found = await db.scalar(
        select(HouseholdPeriod.id)
        .where(
            HouseholdPeriod.community_id == community_id,
            or_(HouseholdPeriod.member_a == member_id, HouseholdPeriod.member_b == member_id),
        )
        .limit(1)
    )
    return found is not None


@raises(AccountHeld)
async def conflicted(
    db: AsyncSession,
    community_id: uuid.UUID,
    staff_id: uuid.UUID,
    parties: Iterable[uuid.UUID | None],
    since: datetime,
) -> bool:
    """Whether ``staff_id`` may not decide a matter of ``parties`` begun at ``since``: they are one of
    them, hold one of their accounts (``Member.held_by``: they issued the code its password was set
    with), or were the household of one of them at any time since (the one check every domain uses).

    A staff member whose own account someone else holds decides nothing (:class:`AccountHeld`): the
    "second person" of a decision must be a person, not an account its holder could log in as.
    """
    people = {p for p in parties if p is not None}
    if staff_id in people:
        return True
    held = await db.execute(select(Member.id, Member.held_by).where(Member.id.in_([staff_id, *people])))
    holders: dict[uuid.UUID, uuid.UUID | None] = {mid: holder for mid, holder in held.all()}
    if holders.get(staff_id) is not None:
        raise AccountHeld()
    if staff_id in holders.values():
        return True
    return linked_in(await spans_of(db, community_id, staff_id, since), people, since)
