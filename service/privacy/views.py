"""Everything Jifen holds about one person, read from every domain's tables (for "我的数据").

Rows are given whole (every column) except secrets that would let someone act as the person: password
hashes, code hashes and the member card's token. The person's name and phone appear once, in ``profile``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.accounts import privacy
from service.activities.models import (
    ActivityScanner,
    Attendance,
    AttendanceCorrection,
    MemberCard,
    Signup,
    TeamMember,
)
from service.audit.models import AuditEvent
from service.notices.models import Notice
from service.points.models import Account, AwardRequest, Entry
from service.rewards.models import ActivityRating, Claim, ClaimObjection, HouseholdLink
from service.store.models import Order, Voucher
from service.wishes.models import Wish

__all__ = ["ROWS_PER_SECTION_MAX", "SECTIONS", "my_data", "plain", "sheets"]

ROWS_PER_SECTION_MAX = 10_000
"""A bound on each section (a very active volunteer has a few thousand entries in a decade)."""

SECTIONS: dict[str, str] = {
    "profile": "个人资料",
    "memberships": "社区与角色",
    "household_links": "家庭关系",
    "household_link_requests": "家庭关系申请",
    "registrations": "注册申请",
    "activation_codes": "激活码",
    "consents": "隐私政策同意记录",
    "requests": "更正与注销申请",
    "signups": "活动报名",
    "attendances": "签到记录",
    "attendance_corrections": "签到更正申请",
    "teams": "服务队",
    "member_cards": "会员卡",
    "scanner_assignments": "扫码协助",
    "ledger_accounts": "积分账户",
    "ledger_entries": "积分流水",
    "award_requests": "奖励申请",
    "claims": "好人好事申报",
    "claim_objections": "异议",
    "activity_ratings": "活动评价",
    "wishes": "微心愿",
    "notices": "通知",
    "orders": "积分超市订单",
    "vouchers": "商家兑换券",
    "audit_events": "涉及本人的审计事件",
}
"""Section key -> its Chinese sheet name (the JSON keys are the English ones)."""


def plain(value: Any) -> Any:
    """A JSON value: ids and times as text, everything else as is."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _rows(objs: Sequence[Any], exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    return [
        {c.key: plain(getattr(o, c.key)) for c in o.__table__.columns if c.key not in exclude} for o in objs
    ]


async def _all(db: AsyncSession, model: Any, *where: Any) -> list[Any]:
    stmt = select(model).where(*where).order_by(model.created_at, model.id).limit(ROWS_PER_SECTION_MAX)
    return list(await db.scalars(stmt))


async def my_data(db: AsyncSession, member_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every section of :data:`SECTIONS` for the person, oldest rows first."""
    out = {
        k: [{c: plain(v) for c, v in r.items()} for r in rows]
        for k, rows in (await privacy.own_records(db, member_id)).items()
    }
    me = member_id
    accounts = await _all(db, Account, Account.member_id == me)
    wishes = await _all(
        db, Wish, or_(Wish.requester_id == me, Wish.beneficiary_id == me, Wish.volunteer_id == me)
    )
    account_ids = [a.id for a in accounts]
    out |= {
        "household_link_requests": _rows(
            await _all(
                db, HouseholdLink, or_(HouseholdLink.requester_id == me, HouseholdLink.relative_id == me)
            )
        ),
        "signups": _rows(await _all(db, Signup, Signup.member_id == me)),
        "attendances": _rows(await _all(db, Attendance, Attendance.member_id == me)),
        "attendance_corrections": _rows(
            await _all(db, AttendanceCorrection, AttendanceCorrection.member_id == me)
        ),
        "teams": _rows(await _all(db, TeamMember, TeamMember.member_id == me)),
        "member_cards": _rows(await _all(db, MemberCard, MemberCard.member_id == me), frozenset({"token"})),
        "scanner_assignments": _rows(await _all(db, ActivityScanner, ActivityScanner.member_id == me)),
        "ledger_accounts": _rows(accounts),
        "ledger_entries": _rows(await _all(db, Entry, Entry.account_id.in_(account_ids)))
        if account_ids
        else [],
        "award_requests": _rows(await _all(db, AwardRequest, AwardRequest.member_id == me)),
        "claims": _rows(await _all(db, Claim, or_(Claim.member_id == me, Claim.submitted_by == me))),
        "claim_objections": _rows(await _all(db, ClaimObjection, ClaimObjection.member_id == me)),
        "activity_ratings": _rows(await _all(db, ActivityRating, ActivityRating.member_id == me)),
        "wishes": [
            # A wish the person only did as its volunteer is theirs, its requester's address is not.
            {**row, "address": row["address"] if me in (w.requester_id, w.beneficiary_id) else None}
            for w, row in zip(wishes, _rows(wishes), strict=True)
        ],
        "notices": _rows(await _all(db, Notice, Notice.member_id == me)),
        "orders": _rows(await _all(db, Order, Order.member_id == me)),
        "vouchers": _rows(await _all(db, Voucher, Voucher.member_id == me)),
        "audit_events": _rows(
            await _all(db, AuditEvent, or_(AuditEvent.subject_member_id == me, AuditEvent.actor_id == me))
        ),
    }
    return {k: out.get(k, []) for k in SECTIONS}


def sheets(data: dict[str, list[dict[str, Any]]]) -> list[tuple[str, list[list[Any]]]]:
    """The sections as spreadsheet sheets: a header row of column names, then one row per record."""
    out: list[tuple[str, list[list[Any]]]] = []
    for key, title in SECTIONS.items():
        rows = data.get(key, [])
        head = list(rows[0]) if rows else ["（无）"]
        body = [[_cell(r.get(c)) for c in head] for r in rows]
        out.append((title, [head, *body]))
    return out


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
