"""SQL aggregates behind the reports: every figure is a GROUP BY over (community, month bucket).

Rows never come into Python: each query returns at most one row per community and month. A month
bucket is a ``CASE`` over the local month edges computed in Python (``rules.edges_utc``), so the same
query is exact on SQLite and PostgreSQL, daylight-saving zones included, and can use the
``(community_id, time)`` indexes. Bucket -1 is the previous period (for the comparison).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts.models import Member, Partner
from service.activities.models import Activity, Attendance, Team
from service.points.models import Account, Entry
from service.reports.models import AccountMonth, MemberMonth, MemberYear
from service.rewards.models import Claim, ClaimObjection, RewardRule
from service.store.models import Voucher
from service.wishes.models import Wish

__all__ = [
    "Counts",
    "Group",
    "additive",
    "attendance_rollup",
    "attendance_rollup_summary",
    "claims_by_rule",
    "distinct_members",
    "hours_rows",
    "medians_hours",
    "member_names",
    "outstanding",
    "outstanding_summary",
    "partner_shares",
    "points_flows",
    "points_flows_summary",
    "stock",
    "top_teams",
]

Counts = dict[tuple[uuid.UUID, int], list[float]]
"""(community id, bucket) -> the query's values; bucket -1 is the previous period."""

ACCEPTED_AT: ColumnElement[Any] = func.coalesce(Wish.accepted_at, Wish.assigned_at)
"""接单: the volunteer accepted an offer or took the wish from the pool (``accepted_at``); wishes
assigned before that column existed have only ``assigned_at``, which then was their acceptance."""
MATCHED_AT: ColumnElement[Any] = func.coalesce(Wish.dispatched_at, Wish.accepted_at, Wish.assigned_at)
"""派单: staff offered the wish to a volunteer (``dispatched_at``), or a volunteer took it from the
pool with no dispatch (then the match is the acceptance)."""


class Group:
    """Communities sharing one time zone, with that zone's period edges."""

    def __init__(self, community_ids: Sequence[uuid.UUID], edges: Sequence[datetime | date]) -> None:
        self.community_ids = list(community_ids)
        self.edges = list(edges)

    def bucket(self, ts: Any) -> ColumnElement[int]:
        whens = [(ts < edge, i - 1) for i, edge in enumerate(self.edges[1:-1])]
        return case(*whens, else_=len(self.edges) - 3)

    def window(self, community_col: Any, ts: Any) -> ColumnElement[bool]:
        return and_(community_col.in_(self.community_ids), ts >= self.edges[0], ts < self.edges[-1])


def _by_position(n: int) -> list[Any]:
    # GROUP BY 1, 2: PostgreSQL would not match a CASE with bound parameters in SELECT and GROUP BY.
    return [literal_column(str(i)) for i in range(1, n + 1)]


async def additive(
    db: AsyncSession,
    groups: Sequence[Group],
    community_col: Any,
    ts: Any,
    values: Sequence[Any],
    *where: Any,
    joins: Sequence[tuple[Any, Any]] = (),
) -> Counts:
    """Sums (or counts) of ``values`` per community and bucket of ``ts``."""
    out: Counts = {}
    for g in groups:
        stmt = select(community_col, g.bucket(ts), *values)
        for target, on in joins:
            stmt = stmt.join(target, on)
        stmt = stmt.where(g.window(community_col, ts), *where).group_by(*_by_position(2))
        for row in await db.execute(stmt):
            out[(row[0], int(row[1]))] = [float(v or 0) for v in row[2:]]
    return out


async def distinct_members(
    db: AsyncSession, groups: Sequence[Group], community_col: Any, ts: Any, member_col: Any, *where: Any
) -> tuple[Counts, Counts]:
    """Distinct members per community and month, and per community over the whole period.

    The period total is its own ``COUNT(DISTINCT)`` (a volunteer active in three months counts once);
    bucket -1 is the previous period, bucket 0 of the second result the current one.
    """
    months = await additive(db, groups, community_col, ts, [func.count(distinct(member_col))], *where)
    totals: Counts = {}
    for g in groups:
        half = case((ts < g.edges[1], -1), else_=0)
        stmt = (
            select(community_col, half, func.count(distinct(member_col)))
            .where(g.window(community_col, ts), *where)
            .group_by(*_by_position(2))
        )
        for cid, b, n in await db.execute(stmt):
            totals[(cid, int(b))] = [float(n)]
    return months, totals


async def stock(
    db: AsyncSession, groups: Sequence[Group], community_col: Any, ts: Any, *where: Any
) -> tuple[Counts, dict[uuid.UUID, float]]:
    """Rows created per bucket and rows created before the previous period (to build running totals)."""
    made = await additive(db, groups, community_col, ts, [func.count()], *where)
    before: dict[uuid.UUID, float] = {}
    for g in groups:
        stmt = (
            select(community_col, func.count())
            .where(community_col.in_(g.community_ids), ts < g.edges[0], *where)
            .group_by(community_col)
        )
        for cid, n in await db.execute(stmt):
            before[cid] = float(n)
    return made, before


async def points_flows(db: AsyncSession, groups: Sequence[Group]) -> Counts:
    """Issued, spent and expired points per community and bucket, from the ledger entries.

    Issued: debits of the issuance accounts net of reversals; spent: credits to the store and partner
    accounts; expired: credits to the expiry sink.
    """
    issued = func.sum(case((Account.kind == "issuance", -Entry.points), else_=0))
    spent = func.sum(case((Account.kind.in_(("store", "partner")), Entry.points), else_=0))
    expired = func.sum(case((Account.kind == "expired", Entry.points), else_=0))
    return await additive(
        db,
        groups,
        Entry.community_id,
        Entry.created_at,
        [issued, spent, expired],
        Account.kind != "member",
        joins=[(Account, Account.id == Entry.account_id)],
    )


async def outstanding(db: AsyncSession, groups: Sequence[Group]) -> dict[tuple[uuid.UUID, int], float]:
    """Points members hold at the end of the previous period (-1) and of every month.

    Today's member balances minus what moved on member accounts after each edge: this reads only
    the entries after the period started, not the whole history.
    """
    out: dict[tuple[uuid.UUID, int], float] = {}
    for g in groups:
        now_rows = await db.execute(
            select(Account.community_id, func.sum(Account.balance))
            .where(Account.community_id.in_(g.community_ids), Account.kind == "member")
            .group_by(Account.community_id)
        )
        balance = {cid: float(v or 0) for cid, v in now_rows}
        months = len(g.edges) - 2
        whens = [(Entry.created_at < edge, i) for i, edge in enumerate(g.edges[2:])]
        later = case(*whens, else_=months)  # bucket i: month i; ``months``: after the period
        stmt = (
            select(Entry.community_id, later, func.sum(Entry.points))
            .join(Account, Account.id == Entry.account_id)
            .where(
                Entry.community_id.in_(g.community_ids),
                Entry.created_at >= g.edges[1],
                Account.kind == "member",
            )
            .group_by(*_by_position(2))
        )
        moved: dict[tuple[uuid.UUID, int], float] = {}
        for cid, b, v in await db.execute(stmt):
            moved[(cid, int(b))] = float(v or 0)
        for cid in g.community_ids:
            level = balance.get(cid, 0.0)
            for b in range(months, -2, -1):
                # level = the balance at the end of bucket b (after-period movements removed first)
                level -= moved.get((cid, b + 1), 0.0) if b + 1 <= months else 0.0
                out[(cid, b)] = level
    return out


def _seconds(db: AsyncSession, later: Any, earlier: Any) -> Any:
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _in_period(groups: Sequence[Group], community_col: Any, ts: Any) -> ColumnElement[bool]:
    return or_(
        *(and_(community_col.in_(g.community_ids), ts >= g.edges[1], ts < g.edges[-1]) for g in groups)
    )


async def medians_hours(
    db: AsyncSession, groups: Sequence[Group], part_of: dict[uuid.UUID, int]
) -> dict[str, dict[int, float]]:
    """Median hours from posting to dispatch, to acceptance, and from acceptance to completion.

    Over the wishes posted in the period, per part (``part_of`` maps a community to its child
    region's index) and over all (part -1). The median is the middle value, or the mean of the two
    middle values, computed in SQL with window functions (both dialects).
    """
    whens = [(Wish.community_id == cid, i) for cid, i in part_of.items()]
    part = case(*whens, else_=-2) if whens else literal_column("-2")
    spans = {
        "dispatch": (Wish.created_at, MATCHED_AT),
        "accept": (Wish.created_at, ACCEPTED_AT),
        "complete": (ACCEPTED_AT, Wish.completed_at),
    }
    # One statement: the wishes of the period are read once (a CTE with the three spans, NULL when
    # a step has not happened), then every (span, part) and (span, all) median from one window sort.
    wishes = (
        select(
            part.label("p"),
            *(_seconds(db, end, start).label(name) for name, (start, end) in spans.items()),
        )
        .where(_in_period(groups, Wish.community_id, Wish.created_at))
        .cte("w")
    )
    selects = []
    for i, name in enumerate(spans):
        d = wishes.c[name]
        for key in (wishes.c.p, literal_column("-1")):
            selects.append(
                select(literal_column(str(i)).label("s"), key.label("g"), d.label("d")).where(d.is_not(None))
            )
    inner = union_all(*selects).subquery()
    ranked = select(
        inner.c.s,
        inner.c.g,
        inner.c.d,
        func.row_number().over(partition_by=(inner.c.s, inner.c.g), order_by=inner.c.d).label("rn"),
        func.count().over(partition_by=(inner.c.s, inner.c.g)).label("n"),
    ).subquery()
    stmt = (
        select(ranked.c.s, ranked.c.g, func.avg(ranked.c.d))
        .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.s, ranked.c.g)
    )
    names = list(spans)
    out: dict[str, dict[int, float]] = {name: {} for name in names}
    for i, g, seconds in await db.execute(stmt):
        out[names[int(i)]][int(g)] = round(float(seconds) / 3600.0, 2)
    return out


async def claims_by_rule(db: AsyncSession, groups: Sequence[Group]) -> list[tuple[str, str, list[int]]]:
    """Per rule code over the period: (code, title, [submitted, approved, objected, rejected])."""
    objected = select(ClaimObjection.id).where(ClaimObjection.claim_id == Claim.id).exists()
    stmt = (
        select(
            RewardRule.code,
            func.max(RewardRule.title),
            func.count(),
            func.sum(case((Claim.status.in_(("publicized", "awarded")), 1), else_=0)),
            func.sum(case((objected, 1), else_=0)),
            func.sum(case((Claim.status == "rejected", 1), else_=0)),
        )
        .join(RewardRule, RewardRule.id == Claim.rule_id)
        .where(_in_period(groups, Claim.community_id, Claim.created_at))
        .group_by(RewardRule.code)
        .order_by(func.count().desc(), RewardRule.code)
    )
    return [(code, title, [int(v or 0) for v in rest]) for code, title, *rest in await db.execute(stmt)]


async def partner_shares(
    db: AsyncSession, groups: Sequence[Group], limit: int
) -> list[tuple[uuid.UUID, str, int, int]]:
    """Partners by redeemed voucher points in the period: (community, name, vouchers, points). A unit of
    a region serving several communities has a row per community whose residents redeemed there."""
    stmt = (
        select(Voucher.community_id, Partner.name, func.count(), func.sum(Voucher.points))
        .join(Partner, Partner.id == Voucher.partner_id)
        .where(_in_period(groups, Voucher.community_id, Voucher.redeemed_at), Voucher.status == "redeemed")
        .group_by(Partner.id, Voucher.community_id, Partner.name)
        .order_by(func.sum(Voucher.points).desc(), Partner.name)
        .limit(limit)
    )
    return [(cid, name, int(n), int(p or 0)) for cid, name, n, p in await db.execute(stmt)]


async def top_teams(
    db: AsyncSession, groups: Sequence[Group], limit: int
) -> list[tuple[uuid.UUID, str, int, int]]:
    """Teams by service minutes at their activities: (community, name, check-ins, minutes).

    Attendances are summed per activity first (a hash aggregate down to one row per activity), so
    only those rows meet the activities and teams.
    """
    per = (
        select(
            Attendance.activity_id.label("a"),
            func.count().label("n"),
            func.sum(Attendance.minutes).label("m"),
        )
        .where(
            _in_period(groups, Attendance.community_id, Attendance.checked_in_at), Attendance.status == "out"
        )
        .group_by(Attendance.activity_id)
        .subquery()
    )
    stmt = (
        select(Team.community_id, Team.name, func.sum(per.c.n), func.sum(per.c.m))
        .join(Activity, Activity.id == per.c.a)
        .join(Team, Team.id == Activity.team_id)
        .group_by(Team.id, Team.community_id, Team.name)
        .order_by(func.sum(per.c.m).desc(), Team.name)
        .limit(limit)
    )
    return [(cid, name, int(n), int(m or 0)) for cid, name, n, m in await db.execute(stmt)]


async def member_names(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await db.execute(select(Member.id, Member.name).where(Member.id.in_(list(ids))))
    return {i: n for i, n in rows}


async def hours_rows(
    db: AsyncSession, groups: Sequence[Group], member_id: uuid.UUID | None, limit: int
) -> list[tuple[str, str, str, datetime, int, str]]:
    """Service-hour lines for the export: (name, phone, activity, checked in, minutes, organizer)."""
    organizer = Member.__table__.alias("organizer")
    stmt = (
        select(
            Member.name,
            Member.phone,
            Activity.title,
            Attendance.checked_in_at,
            Attendance.minutes,
            organizer.c.name,
        )
        .join(Member, Member.id == Attendance.member_id)
        .join(Activity, Activity.id == Attendance.activity_id)
        .join(organizer, organizer.c.id == Activity.created_by)
        .where(
            _in_period(groups, Attendance.community_id, Attendance.checked_in_at), Attendance.status == "out"
        )
        .order_by(Member.name, Attendance.checked_in_at)
        .limit(limit)
    )
    if member_id is not None:
        stmt = stmt.where(Attendance.member_id == member_id)
    return [tuple(r) for r in await db.execute(stmt)]


async def attendance_rollup(
    db: AsyncSession, groups: Sequence[Group], limit: int
) -> tuple[Counts, Counts, dict[uuid.UUID, tuple[int, int]]]:
    """Check-ins, hours and active volunteers from one scan of the attendances.

    The scan groups by (community, month, member) once; from those rows one statement counts
    check-ins and minutes per month, distinct volunteers per month and per period, and the members
    with the most minutes. Returns (per month: [distinct, check-ins, minutes], per period:
    [distinct] with bucket -1 previous / 0 current, {member: (activities, minutes)} of the top).
    """
    months: Counts = {}
    totals: Counts = {}
    top: dict[uuid.UUID, tuple[int, int]] = {}
    for g in groups:
        minutes = case((Attendance.status == "out", Attendance.minutes), else_=0)
        per = (
            select(
                Attendance.community_id.label("c"),
                g.bucket(Attendance.checked_in_at).label("b"),
                Attendance.member_id.label("m"),
                func.count().label("n"),
                func.sum(minutes).label("minutes"),
                func.sum(case((Attendance.status == "out", 1), else_=0)).label("done"),
            )
            .where(
                g.window(Attendance.community_id, Attendance.checked_in_at),
                Attendance.status.in_(("in", "out")),
            )
            .group_by(*_by_position(3))
            .cte("per")
        )
        by_month = select(
            literal_column("'m'").label("k"), per.c.c, per.c.b, literal_column("0").label("x"),
            func.count(), func.sum(per.c.n), func.sum(per.c.minutes),
        ).group_by(per.c.c, per.c.b)  # fmt: skip
        previous = select(
            literal_column("'p'"), per.c.c, literal_column("-1"), literal_column("0"),
            func.count(distinct(per.c.m)), literal_column("0"), literal_column("0"),
        ).where(per.c.b < 0).group_by(per.c.c)  # fmt: skip
        current = select(
            literal_column("'t'"), per.c.c, literal_column("0"), literal_column("0"),
            func.count(distinct(per.c.m)), literal_column("0"), literal_column("0"),
        ).where(per.c.b >= 0).group_by(per.c.c)  # fmt: skip
        best = (
            select(per.c.m, func.sum(per.c.done).label("done"), func.sum(per.c.minutes).label("minutes"))
            .where(per.c.b >= 0)
            .group_by(per.c.m)
            .having(func.sum(per.c.done) > 0)
            .order_by(func.sum(per.c.minutes).desc(), per.c.m)
            .limit(limit)
            .subquery()
        )
        leaders = select(
            literal_column("'l'"), best.c.m, literal_column("0"), literal_column("0"),
            literal_column("0"), best.c.done, best.c.minutes,
        )  # fmt: skip
        for k, c, b, _x, a, n, m in await db.execute(by_month.union_all(previous, current, leaders)):
            if k == "m":
                months[(c, int(b))] = [float(a), float(n or 0), float(m or 0)]
            elif k == "l":
                top[c] = (int(n or 0), int(m or 0))
            else:
                totals[(c, int(b))] = [float(a)]
    return months, totals, top


# ---------------------------------------------------------------- from the summary tables
#
# When every edge of the period and of the previous period is the first of a local month, the
# attendance and ledger figures come from the summaries the triggers keep (migration 0013): rows per
# member (or account) and local month, and per member and local year. ``months`` is a Group whose
# edges are the local first days ``[previous start, month 1, ..., end]`` (one list for every zone).


def _live(*where: Any) -> list[Any]:
    return [MemberMonth.checkins > 0, *where]


async def attendance_rollup_summary(
    db: AsyncSession, months: Group, year: int | None, limit: int
) -> tuple[Counts, Counts, dict[uuid.UUID, tuple[int, int]]]:
    """What ``attendance_rollup`` returns, from the member-month rows (and member-year rows when the
    period is the calendar year ``year``: its distinct volunteers and top members are those rows)."""
    by_month: Counts = {}
    stmt = (
        select(
            MemberMonth.community_id,
            months.bucket(MemberMonth.month),
            func.count(),
            func.sum(MemberMonth.checkins),
            func.sum(MemberMonth.minutes),
        )
        .where(*_live(months.window(MemberMonth.community_id, MemberMonth.month)))
        .group_by(*_by_position(2))
    )
    for c, b, a, n, m in await db.execute(stmt):
        by_month[(c, int(b))] = [float(a), float(n or 0), float(m or 0)]
    totals: Counts = {}
    if year is not None:
        half: Any = case((MemberYear.year < year, -1), else_=0)
        distinct_stmt = (
            select(MemberYear.community_id, half, func.count())
            .where(
                MemberYear.community_id.in_(months.community_ids),
                MemberYear.year.in_((year - 1, year)),
                MemberYear.checkins > 0,
            )
            .group_by(*_by_position(2))
        )
        best: Any = (
            select(
                MemberYear.member_id.label("m"),
                func.sum(MemberYear.done).label("done"),
                func.sum(MemberYear.minutes).label("minutes"),
            )
            .where(
                MemberYear.community_id.in_(months.community_ids),
                MemberYear.year == year,
                MemberYear.checkins > 0,
            )
            .group_by(MemberYear.member_id)
        )
    else:
        half = case((MemberMonth.month < months.edges[1], -1), else_=0)
        distinct_stmt = (
            select(MemberMonth.community_id, half, func.count(distinct(MemberMonth.member_id)))
            .where(*_live(months.window(MemberMonth.community_id, MemberMonth.month)))
            .group_by(*_by_position(2))
        )
        best = (
            select(
                MemberMonth.member_id.label("m"),
                func.sum(MemberMonth.done).label("done"),
                func.sum(MemberMonth.minutes).label("minutes"),
            )
            .where(
                *_live(
                    MemberMonth.community_id.in_(months.community_ids),
                    MemberMonth.month >= months.edges[1],
                    MemberMonth.month < months.edges[-1],
                )
            )
            .group_by(MemberMonth.member_id)
        )
    for c, b, n in await db.execute(distinct_stmt):
        totals[(c, int(b))] = [float(n)]
    sub = best.subquery()
    top_stmt = (
        select(sub.c.m, sub.c.done, sub.c.minutes)
        .where(sub.c.done > 0)
        .order_by(sub.c.minutes.desc(), sub.c.m)
        .limit(limit)
    )
    top = {m: (int(d or 0), int(v or 0)) for m, d, v in await db.execute(top_stmt)}
    return by_month, totals, top


async def points_flows_summary(db: AsyncSession, months: Group) -> Counts:
    """What ``points_flows`` returns, from the account-month rows."""
    t = AccountMonth
    issued = func.sum(case((t.kind == "issuance", -t.points), else_=0))
    spent = func.sum(case((t.kind.in_(("store", "partner")), t.points), else_=0))
    expired = func.sum(case((t.kind == "expired", t.points), else_=0))
    stmt = (
        select(t.community_id, months.bucket(t.month), issued, spent, expired)
        .where(months.window(t.community_id, t.month), t.kind != "member")
        .group_by(*_by_position(2))
    )
    return {(row[0], int(row[1])): [float(v or 0) for v in row[2:]] for row in await db.execute(stmt)}


async def outstanding_summary(db: AsyncSession, months: Group) -> dict[tuple[uuid.UUID, int], float]:
    """What ``outstanding`` returns, from today's balances and the account-month rows."""
    t = AccountMonth
    cids = months.community_ids
    now_rows = await db.execute(
        select(Account.community_id, func.sum(Account.balance))
        .where(Account.community_id.in_(cids), Account.kind == "member")
        .group_by(Account.community_id)
    )
    balance = {cid: float(v or 0) for cid, v in now_rows}
    n = len(months.edges) - 2
    whens = [(t.month < edge, i) for i, edge in enumerate(months.edges[2:])]
    later = case(*whens, else_=n)
    stmt = (
        select(t.community_id, later, func.sum(t.points))
        .where(t.community_id.in_(cids), t.month >= months.edges[1], t.kind == "member")
        .group_by(*_by_position(2))
    )
    moved = {(cid, int(b)): float(v or 0) for cid, b, v in await db.execute(stmt)}
    out: dict[tuple[uuid.UUID, int], float] = {}
    for cid in cids:
        level = balance.get(cid, 0.0)
        for b in range(n, -2, -1):
            level -= moved.get((cid, b + 1), 0.0) if b + 1 <= n else 0.0
            out[(cid, b)] = level
    return out
