"""A small region tree with known activity, for the reports' correctness, API and browser tests.

兰州市 > 七里河区 > 石油路街道 (communities A and B) and 敦煌路街道 (community C). Figures of
November 2026 (Asia/Shanghai) are worked out by hand in the comments and in ``EXPECTED``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import service as accounts
from service.accounts.actor import Actor
from service.accounts.models import Community, Member, Membership
from service.activities.models import Activity, Attendance, Team
from service.points import service as points
from service.regions import service as regions
from service.rewards.models import ActivityRating, Claim, ClaimObjection, RewardRule
from service.store.models import Offer, Voucher
from service.wishes.models import Wish

__all__ = ["EXPECTED", "ReportWorld", "build_report_world"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class ReportWorld:
    root: Actor
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    people: dict[str, Member] = field(default_factory=dict)


EXPECTED = {
    # street 石油路 = A + B, November 2026 local
    "A": {
        "active_volunteers": 3,  # m1, m2 (a1) and m3 (a0 at 10-31 16:30 UTC = 11-01 00:30 local)
        "checkins": 3,
        "service_hours": 3.5,  # 120 + 60 + 30 minutes
        "activities": 2,  # a0 (11-01 00:00 local), a1; a2 is December, a3 cancelled
        "teams": 2,
        "new_members": 2,  # m1, m2 (m3 joined in October)
        "wishes_fulfilled": 2,
        "people_served": 5,  # 3 check-ins + 2 wishes
        "points_issued": 100,
        "points_spent": 30,
        "points_outstanding": 120,  # 50 (October) + 100 - 30; the December award is not counted
        "wishes_posted": 5,
        "wishes_dispatched": 4,  # three staff offers and one taken from the pool
        "wishes_accepted": 3,  # the third offer is still waiting
        "wishes_completed": 2,
        "wishes_rated": 2,
        "claims_submitted": 3,
        "claims_approved": 1,
        "claims_rejected": 1,
        "redemptions": 1,
        "redemption_points": 20,
    },
    "B": {
        "active_volunteers": 2,
        "checkins": 2,
        "service_hours": 1.0,
        "activities": 1,
        "teams": 0,
        "new_members": 1,
        "wishes_fulfilled": 1,
        "people_served": 3,
        "points_issued": 0,
        "points_spent": 0,
        "points_outstanding": 0,
        "wishes_posted": 1,
        "wishes_dispatched": 1,
        "wishes_accepted": 1,
        "wishes_completed": 1,
        "wishes_rated": 1,
        "claims_submitted": 0,
        "claims_approved": 0,
        "claims_rejected": 0,
        "redemptions": 1,
        "redemption_points": 60,
    },
}


async def build_report_world(db: AsyncSession) -> ReportWorld:
    root_member = Member(phone="13700000000", name="平台", is_platform_admin=True)
    db.add(root_member)
    await db.flush()
    root = Actor(root_member.id, root_member.name, root_member.phone, True)
    w = ReportWorld(root)
    w.people["root"] = root_member
    city = await regions.create_region(db, root, "兰州市", "lanzhou", "city")
    district = await regions.create_region(db, root, "七里河区", "qilihe", "district", city.id)
    street = await regions.create_region(db, root, "石油路街道", "shiyoulu", "street", district.id)
    other = await regions.create_region(db, root, "敦煌路街道", "dunhuanglu", "street", district.id)
    w.ids |= {"city": city.id, "district": district.id, "street": street.id, "other": other.id}
    comms: dict[str, Community] = {}
    for key, name, region in (("A", "甲社区", street), ("B", "乙社区", street), ("C", "丙社区", other)):
        comms[key] = await accounts.create_community(db, root, name, f"c-{key.lower()}", "Asia/Shanghai")
        await regions.set_community_region(db, root, comms[key].id, region.id)
        await points.set_budget(db, comms[key].id, 1_000_000, set_by=root_member.id)
        w.ids[key] = comms[key].id
    A, B, C = (comms[k].id for k in "ABC")

    def person(key: str, phone: str, name: str) -> Member:
        m = Member(phone=phone, name=name)
        db.add(m)
        w.people[key] = m
        return m

    for i, (key, name) in enumerate(
        [
            ("m1", "陈小红"),
            ("m2", "刘建国"),
            ("m3", "周玉兰"),
            ("m4", "王大成"),
            ("m5", "李四"),
            ("m6", "赵六"),
        ]
    ):
        person(key, f"1390000000{i + 1}", name)
    for key, phone in (("adminA", "13800000001"), ("adminB", "13800000002")):
        person(key, phone, "管理员" + key[-1])
    for key, phone in (
        ("off_street", "13600000001"),
        ("off_district", "13600000002"),
        ("off_other", "13600000003"),
    ):
        person(key, phone, "干部" + key)
    await db.flush()
    p = w.people
    db.add_all(
        [
            Membership(community_id=A, member_id=p["adminA"].id, role="admin", created_at=utc(2026, 9, 1)),
            Membership(community_id=B, member_id=p["adminB"].id, role="admin", created_at=utc(2026, 9, 1)),
            Membership(community_id=A, member_id=p["m1"].id, role="member", created_at=utc(2026, 11, 5)),
            Membership(community_id=A, member_id=p["m2"].id, role="member", created_at=utc(2026, 11, 10)),
            Membership(community_id=A, member_id=p["m3"].id, role="member", created_at=utc(2026, 10, 15)),
            Membership(community_id=B, member_id=p["m4"].id, role="member", created_at=utc(2026, 11, 2)),
            Membership(community_id=B, member_id=p["m5"].id, role="member", created_at=utc(2026, 9, 2)),
            Membership(community_id=C, member_id=p["m6"].id, role="member", created_at=utc(2026, 9, 3)),
        ]
    )
    for key, region in (("off_street", street), ("off_district", district), ("off_other", other)):
        await regions.add_official(db, root, region.id, p[key].phone)
    t1 = Team(community_id=A, name="红马甲", leader_id=p["m1"].id, created_at=utc(2026, 10, 1))
    t2 = Team(community_id=A, name="银发队", leader_id=p["m2"].id, created_at=utc(2026, 11, 20))
    db.add_all([t1, t2])
    await db.flush()

    def activity(
        cid: uuid.UUID, title: str, starts: datetime, team: Team | None = None, status: str = "open"
    ) -> Activity:
        a = Activity(
            community_id=cid,
            title=title,
            team_id=team.id if team else None,
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            points_mode="per_attendance",
            points=10,
            status=status,
            secret="s" * 32,
            created_by=p["adminA"].id if cid == A else p["adminB"].id,
        )
        db.add(a)
        return a

    a0 = activity(A, "清晨巡河", utc(2026, 10, 31, 16), t1)
    a1 = activity(A, "垃圾分类宣传", utc(2026, 11, 3, 1), t1)
    a2 = activity(A, "月末清扫", utc(2026, 11, 30, 17), t2)  # 12-01 01:00 local: December
    activity(A, "取消的活动", utc(2026, 11, 15), status="cancelled")
    b1 = activity(B, "敬老院探访", utc(2026, 11, 12, 2))
    c1 = activity(C, "助残", utc(2026, 11, 20, 2))
    await db.flush()

    def attend(a: Activity, m: str, at: datetime, minutes: int, status: str = "out") -> None:
        db.add(
            Attendance(
                community_id=a.community_id,
                activity_id=a.id,
                member_id=p[m].id,
                status=status,
                evidence="kiosk",
                checked_in_at=at,
                minutes=minutes,
                checked_out_at=at + timedelta(minutes=minutes) if status == "out" else None,
            )
        )

    attend(a0, "m3", utc(2026, 10, 31, 16, 30), 30)
    attend(a1, "m1", utc(2026, 11, 3, 2), 120)
    attend(a1, "m2", utc(2026, 11, 3, 2), 60)
    attend(a2, "m1", utc(2026, 11, 30, 17), 90)
    attend(b1, "m4", utc(2026, 11, 12, 2), 60)
    attend(b1, "m5", utc(2026, 11, 12, 2), 0, status="in")
    attend(c1, "m6", utc(2026, 11, 20, 2), 240)
    # neither counts: m3 left a1 early (absent), adminA's own attendance waits for a second organizer
    attend(a1, "m3", utc(2026, 11, 3, 2), 0, status="absent")
    attend(a1, "adminA", utc(2026, 11, 3, 2), 60, status="pending")

    def wish(
        cid: uuid.UUID,
        created: datetime,
        dispatch_h: float | None,
        accept_h: float | None,
        complete_h: float | None,
        stars: int | None,
    ) -> None:
        """Hours after posting to the staff offer and to the acceptance; hours after accepting to done."""
        offered = created + timedelta(hours=dispatch_h) if dispatch_h is not None else None
        accepted = created + timedelta(hours=accept_h) if accept_h is not None else None
        completed = accepted + timedelta(hours=complete_h) if accepted and complete_h is not None else None
        status = "rated" if stars else "done" if completed else "assigned" if accepted else "open"
        if status == "open" and offered:
            status = "offered"
        db.add(
            Wish(
                community_id=cid,
                requester_id=p["m3"].id,
                title="心愿",
                category="errand",
                status=status,
                volunteer_id=p["m1"].id if offered or accepted else None,
                assigned_by=(p["adminA"].id if offered else p["m1"].id) if offered or accepted else None,
                dispatched_by=p["adminA"].id if offered else None,
                dispatched_at=offered,
                assigned_at=accepted,
                accepted_at=accepted,
                completed_at=completed,
                stars=stars,
                rated_at=completed + timedelta(hours=1) if stars and completed else None,
                created_at=created,
            )
        )

    # Dispatch (offer, or taken from the pool) hours A: 2, 4, 6, 7 (pool); B: 1 -> street median 4,
    # A 5, B 1. Accept hours A: 4, 8, 7 (pool; the third offer is not accepted yet); B: 2 -> street
    # (2, 4, 7, 8) 5.5, A 7, B 2. Complete after accepting: A 10, 6, -; B 2 -> street 6, A 8, B 2.
    wish(A, utc(2026, 11, 1), 2, 4, 10, 5)
    wish(A, utc(2026, 11, 2), 4, 8, 6, 3)
    wish(A, utc(2026, 11, 3), 6, None, None, None)
    wish(A, utc(2026, 11, 4), None, None, None, None)
    wish(A, utc(2026, 11, 6), None, 7, None, None)
    wish(B, utc(2026, 11, 5), 1, 2, 2, 4)
    # activity ratings count in satisfaction: A 5 and 2 stars (with wish stars 5, 3 -> 2 of 4 good)
    db.add_all(
        [
            ActivityRating(
                community_id=A, activity_id=a1.id, member_id=p["m1"].id, stars=5, created_at=utc(2026, 11, 4)
            ),
            ActivityRating(
                community_id=A, activity_id=a1.id, member_id=p["m2"].id, stars=2, created_at=utc(2026, 11, 4)
            ),
            # October: the previous period only
            ActivityRating(
                community_id=A, activity_id=a0.id, member_id=p["m3"].id, stars=4, created_at=utc(2026, 10, 31)
            ),
        ]
    )

    rule = RewardRule(community_id=A, code="garbage", title="垃圾分类", points=5, publicity_days=3)
    db.add(rule)
    await db.flush()
    claims = [
        Claim(
            community_id=A,
            rule_id=rule.id,
            member_id=p["m1"].id,
            submitted_by=p["m1"].id,
            points=5,
            year=2026,
            status="awarded",
            awarded_at=utc(2026, 11, 9),
            created_at=utc(2026, 11, 6),
        ),
        Claim(
            community_id=A,
            rule_id=rule.id,
            member_id=p["m2"].id,
            submitted_by=p["m2"].id,
            points=5,
            year=2026,
            status="rejected",
            created_at=utc(2026, 11, 7),
        ),
        Claim(
            community_id=A,
            rule_id=rule.id,
            member_id=p["m3"].id,
            submitted_by=p["m3"].id,
            points=5,
            year=2026,
            status="submitted",
            review_round=2,
            created_at=utc(2026, 11, 8),
        ),
    ]
    db.add_all(claims)
    await db.flush()
    db.add(ClaimObjection(community_id=A, claim_id=claims[2].id, member_id=p["m4"].id, reason="不属实"))

    for key, cid, pts in (("A", A, 20), ("B", B, 60)):
        partner = await accounts.create_partner(db, root, cid, f"商店{key}")
        offer = Offer(community_id=cid, partner_id=partner.id, title="九折", points=pts)
        db.add(offer)
        await db.flush()
        db.add(
            Voucher(
                community_id=cid,
                partner_id=partner.id,
                offer_id=offer.id,
                member_id=p["m1"].id,
                code=f"V{key}000001",
                points=pts,
                status="redeemed",
                hold_id=uuid.uuid4(),
                expires_at=utc(2026, 11, 20),
                redeemed_at=utc(2026, 11, 15),
            )
        )

    # points in A: 50 to m2 in October, 100 to m1 in November, 30 spent at the store, 10 in December
    async def at(moment: datetime) -> None:
        clock.set_now(moment)

    await at(utc(2026, 10, 20))
    await points.award(
        db, community_id=A, member_id=p["m2"].id, points=50, code="checkin", idempotency_key="r1"
    )
    await at(utc(2026, 11, 10))
    await points.award(
        db, community_id=A, member_id=p["m1"].id, points=100, code="checkin", idempotency_key="r2"
    )
    await at(utc(2026, 11, 12))
    held = await points.hold(
        db,
        community_id=A,
        member_id=p["m1"].id,
        points=30,
        payee="store",
        expires_at=utc(2026, 11, 13),
        code="order",
        idempotency_key="r3",
    )
    await points.post_hold(db, held.hold_id)
    await at(utc(2026, 12, 5))
    await points.award(
        db, community_id=A, member_id=p["m1"].id, points=10, code="checkin", idempotency_key="r4"
    )
    clock.set_now(None)
    await db.flush()
    return w
