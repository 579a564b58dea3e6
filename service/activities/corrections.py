"""Corrections of attendance records (民政部 令第67号: records true, accurate, complete): a volunteer asks
to correct their own record (wrong times, a missed check-out) with a reason; an organizer of the
community other than them (and not of their household, nor holding their account) decides. Approved, the
record takes the corrected times, its minutes and points are computed by the activity's own rules, and
the difference posts: more points are issued (budget-counted, ``correction:<id>``), fewer are taken back
as a deduction (never below zero; what cannot be taken is owed). Both acts are audited; the record's
history shows it was corrected."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import households as household_history
from service.accounts.actor import Actor
from service.accounts.service import require_role
from service.activities import rules
from service.activities.errors import (
    ApproverConflict,
    AttendanceNotFound,
    CorrectionNotFound,
    CorrectionNotPending,
    CorrectionPending,
    InvalidCorrection,
    NotCorrectable,
    NotYourAttendance,
)
from service.activities.models import Activity, Attendance, AttendanceCorrection
from service.audit.service import record
from service.config import TITLE_MAX
from service.errors import raises
from service.kit.text import InvalidField, bounded_text
from service.points import service as points

__all__ = ["Decided", "approve", "correction_requests", "my_corrections", "reject", "request"]

CORRECTABLE = ("in", "out", "absent")
"""Statuses a volunteer may ask to correct (manual records and organizers' own attendance have their own
second-organizer flow)."""
EARLY_MAX = timedelta(hours=2)
"""How long before an activity starts a corrected check-in may be (minutes count inside the window only)."""
REASON_MAX = 500


@dataclass(frozen=True)
class Decided:
    correction: AttendanceCorrection
    attendance: Attendance
    delta: int
    """Points issued (> 0) or taken back (< 0) by the decision."""


@raises(
    AttendanceNotFound,
    NotYourAttendance,
    NotCorrectable,
    CorrectionPending,
    InvalidCorrection,
    InvalidField,
    require_role,
)
async def request(
    db: AsyncSession,
    actor: Actor,
    attendance_id: uuid.UUID,
    checked_in_at: datetime,
    checked_out_at: datetime,
    reason: str,
) -> AttendanceCorrection:
    """The volunteer asks to correct their own record; nothing changes until an organizer decides."""
    att = await db.scalar(select(Attendance).where(Attendance.id == attendance_id).with_for_update())
    if att is None:
        raise AttendanceNotFound()
    await require_role(db, actor, att.community_id, "member")
    if att.member_id != actor.member_id:
        raise NotYourAttendance()
    if att.status not in CORRECTABLE or att.evidence == "manual" or att.needs_confirmation:
        raise NotCorrectable(params={"status": att.status})
    reason = bounded_text(reason, "reason", low=1, high=REASON_MAX)
    activity = await db.get(Activity, att.activity_id)
    assert activity is not None
    _check_times(activity, checked_in_at, checked_out_at)
    open_one = await db.scalar(
        select(AttendanceCorrection.id).where(
            AttendanceCorrection.attendance_id == att.id, AttendanceCorrection.status == "pending"
        )
    )
    if open_one is not None:
        raise CorrectionPending()
    row = AttendanceCorrection(
        community_id=att.community_id,
        attendance_id=att.id,
        member_id=att.member_id,
        checked_in_at=checked_in_at,
        checked_out_at=checked_out_at,
        reason=reason,
        status="pending",
        old_checked_in_at=att.checked_in_at,
        old_checked_out_at=att.checked_out_at,
        old_minutes=att.minutes,
        old_points=att.points,
        created_at=clock.now(),
    )
    db.add(row)
    await db.flush()
    await _audit(db, actor, row, activity, "correction_requested")
    return row


def _check_times(activity: Activity, checked_in_at: datetime, checked_out_at: datetime) -> None:
    """Times in order, the check-in not long before the activity, the check-out not in the future."""
    if checked_in_at.tzinfo is None or checked_out_at.tzinfo is None:
        raise InvalidCorrection(detail="Times need a time zone.")
    if checked_out_at <= checked_in_at:
        raise InvalidCorrection(detail="The check-out must come after the check-in.")
    if checked_in_at < activity.starts_at - EARLY_MAX or checked_in_at > activity.ends_at:
        raise InvalidCorrection(detail="The check-in must fall around the activity's time.")
    if checked_out_at > clock.now():
        raise InvalidCorrection(detail="The check-out cannot be in the future.")


async def _pending(db: AsyncSession, actor: Actor, correction_id: uuid.UUID) -> AttendanceCorrection:
    row = await db.scalar(
        select(AttendanceCorrection).where(AttendanceCorrection.id == correction_id).with_for_update()
    )
    if row is None:
        raise CorrectionNotFound()
    await require_role(db, actor, row.community_id, "organizer")
    if row.status != "pending":
        raise CorrectionNotPending(params={"status": row.status})
    if await household_history.conflicted(
        db, row.community_id, actor.member_id, {row.member_id}, row.created_at
    ):
        raise ApproverConflict()  # the volunteer, their household at any time since, or an account held
    return row


@raises(
    CorrectionNotFound,
    CorrectionNotPending,
    ApproverConflict,
    household_history.conflicted,
    require_role,
    InvalidField,
    points.award,
    points.deduct,
)
async def approve(db: AsyncSession, actor: Actor, correction_id: uuid.UUID, note: str = "") -> Decided:
    """An organizer other than the volunteer approves: the record takes the corrected times, and the
    difference in points posts (issued, or taken back never below zero)."""
    row = await _pending(db, actor, correction_id)
    att = await db.scalar(select(Attendance).where(Attendance.id == row.attendance_id).with_for_update())
    assert att is not None
    activity = await db.get(Activity, att.activity_id)
    assert activity is not None
    before_points, paid_before = att.points, att.status == "out"
    att.checked_in_at, att.checked_out_at = row.checked_in_at, row.checked_out_at
    att.minutes = rules.minutes_inside(
        att.checked_in_at, att.checked_out_at, activity.starts_at, activity.ends_at
    )
    att.points = rules.points_for(activity.points_mode, activity.points, activity.points_max, att.minutes)
    att.status = "out"
    att.approved_by = att.approved_by or actor.member_id
    row.status, row.decided_by, row.decided_at = "approved", actor.member_id, clock.now()
    row.decision_note = bounded_text(note, "note", high=REASON_MAX) or None
    row.new_minutes, row.new_points = att.minutes, att.points
    await db.flush()
    delta = att.points - (before_points if paid_before else 0)
    memo = f"更正 · {activity.title}"[:TITLE_MAX]
    if delta > 0:
        await points.award(
            db,
            community_id=att.community_id,
            member_id=att.member_id,
            points=delta,
            code="checkin" if not paid_before else "correction",
            memo=activity.title[:TITLE_MAX] if not paid_before else memo,
            ref_type="attendance",
            ref_id=str(att.id),
            actor_id=actor.member_id,
            idempotency_key=f"attendance:{att.id}" if not paid_before else f"correction:{row.id}",
        )
    elif delta < 0:
        await points.deduct(
            db,
            community_id=att.community_id,
            member_id=att.member_id,
            points=-delta,
            code="correction",
            memo=memo,
            ref_type="attendance",
            ref_id=str(att.id),
            actor_id=actor.member_id,
        )
    await _audit(db, actor, row, activity, "correction_approved", delta)
    return Decided(row, att, delta)


@raises(
    CorrectionNotFound,
    CorrectionNotPending,
    ApproverConflict,
    household_history.conflicted,
    require_role,
    InvalidField,
)
async def reject(db: AsyncSession, actor: Actor, correction_id: uuid.UUID, note: str) -> AttendanceCorrection:
    """An organizer other than the volunteer turns the request down (saying why); nothing changes."""
    row = await _pending(db, actor, correction_id)
    row.status, row.decided_by, row.decided_at = "rejected", actor.member_id, clock.now()
    row.decision_note = bounded_text(note, "note", low=1, high=REASON_MAX)
    await db.flush()
    activity = await db.scalar(
        select(Activity)
        .join(Attendance, Attendance.activity_id == Activity.id)
        .where(Attendance.id == row.attendance_id)
    )
    assert activity is not None
    await _audit(db, actor, row, activity, "correction_rejected")
    return row


async def _audit(
    db: AsyncSession,
    actor: Actor,
    row: AttendanceCorrection,
    activity: Activity,
    action: str,
    delta: int | None = None,
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=row.community_id,
        subject_member_id=row.member_id,
        detail={
            "correction_id": str(row.id),
            "attendance_id": str(row.attendance_id),
            "activity_id": str(activity.id),
            "before": {
                "checked_in_at": row.old_checked_in_at.isoformat() if row.old_checked_in_at else None,
                "checked_out_at": row.old_checked_out_at.isoformat() if row.old_checked_out_at else None,
                "minutes": row.old_minutes,
                "points": row.old_points,
            },
            "asked": {
                "checked_in_at": row.checked_in_at.isoformat(),
                "checked_out_at": row.checked_out_at.isoformat(),
                "reason": row.reason,
            },
            "after": None
            if row.new_minutes is None
            else {"minutes": row.new_minutes, "points": row.new_points},
            "points_delta": delta,
        },
    )


@raises(require_role)
async def correction_requests(
    db: AsyncSession, actor: Actor, community_id: uuid.UUID, status: str | None, limit: int
) -> list[tuple[AttendanceCorrection, Attendance, Activity]]:
    """The community's correction requests for its organizers, oldest pending first."""
    await require_role(db, actor, community_id, "organizer")
    stmt = (
        select(AttendanceCorrection, Attendance, Activity)
        .join(Attendance, Attendance.id == AttendanceCorrection.attendance_id)
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(AttendanceCorrection.community_id == community_id)
    )
    if status is not None:
        stmt = stmt.where(AttendanceCorrection.status == status)
    rows = await db.execute(stmt.order_by(AttendanceCorrection.created_at).limit(limit))
    return [(c, a, act) for c, a, act in rows.all()]


async def my_corrections(
    db: AsyncSession, actor: Actor, limit: int
) -> list[tuple[AttendanceCorrection, Activity]]:
    """The caller's own correction requests, newest first."""
    rows = await db.execute(
        select(AttendanceCorrection, Activity)
        .join(Attendance, Attendance.id == AttendanceCorrection.attendance_id)
        .join(Activity, Activity.id == Attendance.activity_id)
        .where(AttendanceCorrection.member_id == actor.member_id)
        .order_by(AttendanceCorrection.created_at.desc())
        .limit(limit)
    )
    return [(c, act) for c, act in rows.all()]
