"""The ledger's read side: balances, histories, leaderboards and the manual-awards queue, each in a fixed
number of bounded queries (names of people come from ``service.accounts.views``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service import clock
from service.accounts import service as accounts
from service.accounts import views as accounts_views
from service.accounts.actor import Actor
from service.errors import raises
from service.points import rules
from service.points.models import (
    Account,
    AwardRequest,
    Budget,
    Entry,
    IssuanceMonth,
    Lot,
    Owed,
    PendingIssuance,
    Policy,
    Transfer,
)

__all__ = [
    "AWARDS_MAX",
    "HISTORY_MAX",
    "AwardsDesk",
    "Balance",
    "BudgetView",
    "EntryView",
    "History",
    "HomePanel",
    "awards_desk",
    "balance",
    "balance_for",
    "budget_of",
    "budgets_of",
    "earned_leaderboard",
    "entries",
    "get_policy",
    "history",
    "home_panel",
    "list_awards",
    "my_entries",
    "pending_refs",
    "policy_for",
]

HISTORY_MAX = 200
"""Most history lines one page returns."""
AWARDS_MAX = 200
"""Most manual awards one list returns."""
MEMBER_CHOICES_MAX = 200
"""Members offered in the award form (search by name or phone narrows it)."""
HOME_HISTORY_ROWS = 5
"""History lines on the home page panel."""


async def _member_account(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> Account | None:
    found: Account | None = await db.scalar(
        select(Account)
        .where(
            Account.community_id == community_id,
            Account.owner_key == rules.owner_key("member", member_id, None),
        )
        .execution_options(populate_existing=True)
    )
    return found


async def get_policy(db: AsyncSession, community_id: uuid.UUID) -> Policy:
    """The community's policy (defaults when it never set one; not added to the session then)."""
    policy = await db.get(Policy, community_id)
    return policy or Policy(
        community_id=community_id, expiry_mode="never", expiry_value=0, award_approval_threshold=100
    )


@raises(accounts.require_role)
async def policy_for(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> Policy:
    """The policy as a member of the community reads it."""
    await accounts.require_role(db, actor, community_id, "member")
    return await get_policy(db, community_id)


@dataclass(frozen=True)
class Balance:
    available: int
    held: int
    earned: int
    spent: int
    expired: int
    expiring: list[tuple[int, datetime]] = field(default_factory=list)
    owed: int = 0
    """Points deductions (扣分) could not take yet: taken from later earnings (``points.collect_owed``)."""


# ---------------------------------------------------------------- balances


async def balance(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> Balance:
    """The member's balance in the community (zeros for a member with no entries yet)."""
    account = await _member_account(db, community_id, member_id)
    owes = await owed(db, community_id, member_id)
    if account is None:
        return Balance(available=0, held=0, earned=0, spent=0, expired=0, expiring=[], owed=owes)
    horizon = clock.now() + timedelta(days=rules.EXPIRING_WINDOW_DAYS)
    rows = await db.execute(
        select(Lot.expires_at, func.sum(Lot.remaining))
        .where(Lot.account_id == account.id, Lot.remaining > 0, Lot.expires_at <= horizon)
        .group_by(Lot.expires_at)
        .order_by(Lot.expires_at)
    )
    expiring = [(int(points), at) for at, points in rows if at is not None]
    return Balance(
        available=account.balance - account.held,
        held=account.held,
        earned=account.earned,
        spent=account.spent,
        expired=account.expired,
        expiring=expiring,
        owed=owes,
    )


async def owed(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> int:
    """Points the member still owes from deductions (taken from later earnings)."""
    total = await db.scalar(
        select(func.sum(Owed.remaining)).where(
            Owed.community_id == community_id, Owed.member_id == member_id, Owed.remaining > 0
        )
    )
    return int(total or 0)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class EntryView:
    """One line of a member's history."""

    id: uuid.UUID
    seq: int
    points: int
    code: str
    memo: str
    created_at: datetime
    ref_type: str | None
    ref_id: str | None
    transfer_id: uuid.UUID
    expires_at: datetime | None


async def entries(
    db: AsyncSession,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    code: str | None = None,
) -> tuple[list[EntryView], int | None]:
    """The member's entries, newest first; returns a page and the ``seq`` to continue before."""
    account = await _member_account(db, community_id, member_id)
    if account is None:
        return [], None
    query = (
        select(Entry, Transfer.code, Transfer.memo, Transfer.ref_type, Transfer.ref_id)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == account.id)
    )
    if before_seq is not None:
        query = query.where(Entry.seq < before_seq)
    if since is not None:
        query = query.where(Entry.created_at >= since)
    if until is not None:
        query = query.where(Entry.created_at < until)
    if code is not None:
        query = query.where(Transfer.code == code)
    rows = (await db.execute(query.order_by(Entry.seq.desc()).limit(limit + 1))).all()
    items = [
        EntryView(
            id=e.id,
            seq=e.seq,
            points=e.points,
            code=c,
            memo=m,
            created_at=e.created_at,
            ref_type=rt,
            ref_id=ri,
            transfer_id=e.transfer_id,
            expires_at=e.expires_at,
        )
        for e, c, m, rt, ri in rows[:limit]
    ]
    return items, (items[-1].seq if len(rows) > limit else None)


# ---------------------------------------------------------------- leaderboards


async def earned_leaderboard(
    db: AsyncSession,
    community_id: uuid.UUID,
    start: datetime,
    end: datetime,
    limit: int | None = 20,
) -> list[tuple[uuid.UUID, int]]:
    """Points EARNED by members in [start, end), most first: ``[(member_id, points)]``.

    Earned means issued: the positive entries on member accounts of transfers whose debit side is one
    of the community's issuance accounts (check-ins, claims, wishes, manual awards; any shard). Member
    to member transfers, spending, refunds from the store or partners and expiry are not earning.
    Reversals: a reversed award does not count at all, in the month it was posted (the award is
    treated as if it never happened, so a correction next month does not push that month negative and
    past months may drop when an award is corrected later). Reversals themselves are never counted.
    One aggregate query; reads only; ties ordered by member id so the ranking is stable; ``limit=None``
    returns every member who earned (for sums over groups such as teams).
    """
    member_acct = aliased(Account)
    issuance_acct = aliased(Account)
    issuance_leg = aliased(Entry)
    correction = aliased(Transfer)
    from_issuance = exists().where(
        issuance_leg.transfer_id == Transfer.id,
        issuance_leg.points < 0,
        issuance_acct.id == issuance_leg.account_id,
        issuance_acct.kind == "issuance",
    )
    reversed_later = exists().where(correction.reverses_id == Transfer.id)
    total = func.sum(Entry.points).label("earned")
    stmt = (
        select(member_acct.member_id, total)
        .select_from(member_acct)
        .join(Entry, Entry.account_id == member_acct.id)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(
            member_acct.community_id == community_id,
            member_acct.kind == "member",
            Entry.points > 0,
            and_(Transfer.created_at >= start, Transfer.created_at < end),
            Transfer.reverses_id.is_(None),
            from_issuance,
            ~reversed_later,
        )
        .group_by(member_acct.member_id)
        .order_by(total.desc(), member_acct.member_id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(mid, int(pts)) for mid, pts in (await db.execute(stmt)).all() if mid is not None and pts]


@raises(accounts.get_community, accounts.require_role)
async def balance_for(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> Balance:
    """The caller's own balance in a community they belong to."""
    await accounts.get_community(db, community_id)
    await accounts.require_role(db, actor, community_id, "member")
    return await balance(db, community_id, actor.member_id)


# ---------------------------------------------------------------- pages


@dataclass(frozen=True)
class HomePanel:
    """The points panel of the home page."""

    balance: Balance
    expiring: int
    expiring_days: list[tuple[date, int]]
    history: list[EntryView]
    more: bool


async def home_panel(
    db: AsyncSession, member_id: uuid.UUID, community_id: uuid.UUID, timezone: str
) -> HomePanel:
    """Balance, points expiring soon by local day, and the latest history lines."""
    bal = await balance(db, community_id, member_id)
    lines, more = await entries(db, community_id, member_id, limit=HOME_HISTORY_ROWS)
    by_day: dict[date, int] = {}
    for pts, at in bal.expiring:
        day = at.astimezone(ZoneInfo(timezone)).date()
        by_day[day] = by_day.get(day, 0) + pts
    return HomePanel(
        balance=bal,
        expiring=sum(p for p, _ in bal.expiring),
        expiring_days=sorted(by_day.items()),
        history=lines,
        more=more is not None,
    )


@raises(accounts.require_role)
async def my_entries(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    code: str | None = None,
) -> tuple[list[EntryView], int | None]:
    """The caller's own entries in a community they belong to, newest first (see :func:`entries`)."""
    await accounts.require_role(db, actor, community_id, "member")
    return await entries(
        db,
        community_id,
        actor.member_id,
        limit=max(1, min(limit, HISTORY_MAX)),
        before_seq=before_seq,
        since=since,
        until=until,
        code=code,
    )


@dataclass(frozen=True)
class History:
    """A page of the caller's history, with their balance."""

    balance: Balance
    entries: list[EntryView]
    next_seq: int | None
    pending: list[PendingIssuance] = field(default_factory=list)
    """The caller's points that wait for the community's issuance budget (积分待发放), oldest first."""


@raises(accounts.require_role)
async def history(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
    code: str | None = None,
) -> History:
    """The caller's history page (newest first) and balance."""
    await accounts.require_role(db, actor, community_id, "member")
    rows, last = await entries(
        db,
        community_id,
        actor.member_id,
        limit=max(1, min(limit, HISTORY_MAX)),
        before_seq=before_seq,
        code=code,
    )
    waiting = list(
        await db.scalars(
            select(PendingIssuance)
            .where(
                PendingIssuance.community_id == community_id,
                PendingIssuance.member_id == actor.member_id,
                PendingIssuance.posted_at.is_(None),
            )
            .order_by(PendingIssuance.created_at)
            .limit(HISTORY_MAX)
        )
    )
    return History(
        balance=await balance(db, community_id, actor.member_id), entries=rows, next_seq=last, pending=waiting
    )


@raises(accounts.require_role)
async def list_awards(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    status: str | None = None,
    limit: int = 50,
) -> list[AwardRequest]:
    """Manual awards of the community, newest first (admins only)."""
    await accounts.require_role(db, actor, community_id, "admin")
    query = select(AwardRequest).where(AwardRequest.community_id == community_id)
    if status is not None:
        query = query.where(AwardRequest.status == status)
    limit = max(1, min(limit, AWARDS_MAX))
    return list(await db.scalars(query.order_by(AwardRequest.created_at.desc()).limit(limit)))


@dataclass(frozen=True)
class AwardsDesk:
    """The admin awards page: the queue, recent decisions, names, the form's members and the policy."""

    pending: list[AwardRequest]
    decided: list[AwardRequest]
    people: dict[uuid.UUID, str]
    members: list[accounts_views.MemberView]
    policy: Policy


@raises(list_awards, accounts.list_members)
async def awards_desk(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, *, limit: int, query: str | None = None
) -> AwardsDesk:
    """Everything the admin awards page shows, in a fixed number of queries."""
    awards = await list_awards(db, actor, community_id, limit=limit)
    ids = {mid for a in awards for mid in (a.member_id, a.requested_by, a.decided_by) if mid is not None}
    found, _ = await accounts.list_members(db, actor, community_id, MEMBER_CHOICES_MAX, None, query or None)
    return AwardsDesk(
        pending=[a for a in awards if a.status == "pending_approval"],
        decided=[a for a in awards if a.status != "pending_approval"],
        people=await accounts_views.member_names(db, ids),
        members=[accounts_views.MemberView(m.id, m.name, m.phone) for m, _ in found],
        policy=await get_policy(db, community_id),
    )


# ---------------------------------------------------------------- the issuance budget


@dataclass(frozen=True)
class BudgetView:
    """A community's issuance budget this (local) month: set or not, issued, and what waits."""

    community_id: uuid.UUID
    monthly_points: int | None
    """``None``: no budget set yet (nothing issues)."""
    month: date
    issued: int
    pending_points: int
    pending_count: int
    set_by: uuid.UUID | None = None
    updated_at: datetime | None = None

    @property
    def remaining(self) -> int:
        return max(0, (self.monthly_points or 0) - self.issued)


async def budgets_of(db: AsyncSession, community_ids: list[uuid.UUID]) -> dict[uuid.UUID, BudgetView]:
    """The budget views of several communities (three queries, for the officials' report)."""
    if not community_ids:
        return {}
    now = clock.now()
    zones = await accounts_views.community_timezones(db, community_ids)
    months = {cid: rules.budget_month(now, zones.get(cid, "Asia/Shanghai")) for cid in community_ids}
    budgets = {
        b.community_id: b
        for b in await db.scalars(select(Budget).where(Budget.community_id.in_(community_ids)))
    }
    issued: dict[uuid.UUID, int] = {}
    for cid, month, points in await db.execute(
        select(IssuanceMonth.community_id, IssuanceMonth.month, IssuanceMonth.issued).where(
            IssuanceMonth.community_id.in_(community_ids), IssuanceMonth.month.in_(set(months.values()))
        )
    ):
        if months.get(cid) == month:
            issued[cid] = int(points)
    pending = {
        cid: (int(total or 0), int(count or 0))
        for cid, total, count in await db.execute(
            select(PendingIssuance.community_id, func.sum(PendingIssuance.points), func.count())
            .where(PendingIssuance.community_id.in_(community_ids), PendingIssuance.posted_at.is_(None))
            .group_by(PendingIssuance.community_id)
        )
    }
    out: dict[uuid.UUID, BudgetView] = {}
    for cid in community_ids:
        budget = budgets.get(cid)
        total, count = pending.get(cid, (0, 0))
        out[cid] = BudgetView(
            community_id=cid,
            monthly_points=budget.monthly_points if budget else None,
            month=months[cid],
            issued=issued.get(cid, 0),
            pending_points=total,
            pending_count=count,
            set_by=budget.set_by if budget else None,
            updated_at=budget.updated_at if budget else None,
        )
    return out


async def budget_of(db: AsyncSession, community_id: uuid.UUID) -> BudgetView:
    return (await budgets_of(db, [community_id]))[community_id]


async def pending_refs(
    db: AsyncSession, community_id: uuid.UUID, ref_type: str, ref_ids: list[str]
) -> set[str]:
    """Which of these references (``attendance``, ``claim``, ``wish``, ``award``) have points waiting for
    the budget (so a page can say 积分待发放 instead of the points)."""
    if not ref_ids:
        return set()
    rows = await db.scalars(
        select(PendingIssuance.ref_id).where(
            PendingIssuance.community_id == community_id,
            PendingIssuance.ref_type == ref_type,
            PendingIssuance.ref_id.in_(ref_ids),
            PendingIssuance.posted_at.is_(None),
        )
    )
    return {r for r in rows if r is not None}
