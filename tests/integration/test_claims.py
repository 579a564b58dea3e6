"""Good-conduct claims on a real database: review, public notice, objections, settlement, limits."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select

from service import clock
from service.errors import DomainError
from service.kit.masking import mask_name
from service.points import service as points
from service.rewards import service as rewards
from service.rewards import views as reward_views
from service.rewards.models import Claim, ClaimObjection, ClaimPhoto, ClaimReview
from tests.support.balances import available as _available
from tests.support.proposals import applied, rule_of
from tests.support.world import World


async def _rule(db: Any, world: World, code: str = "garbage", pts: int = 20, **kw: Any) -> Any:
    return await rule_of(
        db,
        world,
        await rewards.create_rule(
            db,
            world.actor("admin"),
            world.cid,
            code=code,
            title=kw.pop("title", "垃圾分类达标"),
            points=pts,
            publicity_days=kw.pop("publicity_days", 3),
            **kw,
        ),
    )


async def _claim(
    db: Any, world: World, rule: Any, who: str = "alice", by: str | None = None, days_ago: int = 0
) -> Claim:
    """A claim for ``who`` (by ``by``) of an event ``days_ago`` days before today (local)."""
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    return await rewards.submit_claim(
        db,
        world.actor(by or who),
        rule.id,
        world.members[who].id,
        "分类投放，连续一个月检查合格",
        event_date=today - timedelta(days=days_ago),
    )


async def _snapshot(db: Any, claim: Claim) -> tuple[Any, ...]:
    reviews = await db.scalar(
        select(func.count()).select_from(ClaimReview).where(ClaimReview.claim_id == claim.id)
    )
    objections = await db.scalar(
        select(func.count()).select_from(ClaimObjection).where(ClaimObjection.claim_id == claim.id)
    )
    claims = await db.scalar(select(func.count()).select_from(Claim))
    return (
        claim.status,
        claim.review_round,
        claim.publicity_ends_at,
        claim.awarded_at,
        reviews,
        objections,
        claims,
    )


async def _refused(db: Any, claim: Claim, code: str, work: Any) -> None:
    """The action is refused with ``code`` and the claim, its reviews and objections are unchanged."""
    before = await _snapshot(db, claim)
    with pytest.raises(DomainError) as caught:
        await work()
    assert caught.value.code == code
    assert await _snapshot(db, claim) == before


async def test_member_claims_for_self_and_one_reviewer_publicizes(db: Any, world: World) -> None:
    rule = await _rule(db, world, publicity_days=5)
    claim = await _claim(db, world, rule)
    assert claim.status == "submitted" and claim.points == 20
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve", "属实")
    assert claim.status == "publicized"
    assert claim.publicity_ends_at is not None
    assert claim.publicity_ends_at - claim.publicized_at == timedelta(days=5)  # type: ignore[operator]


async def test_reviewer_separation(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    # The reviewer claims for themself: they may not review it.
    own = await _claim(db, world, rule, who="reviewer")
    await _refused(
        db,
        own,
        "reviewer_conflict",
        lambda: rewards.review_claim(db, world.actor("reviewer"), own.id, "approve"),
    )
    # A reviewer who is also an organizer submits for alice: the submitter may not review either.
    from service.accounts import service as accounts

    await accounts.add_member(
        db, world.root, world.cid, world.members["reviewer2"].phone, "r2", None, "organizer"
    )
    submitted = await _claim(db, world, rule, who="alice", by="reviewer2")
    await _refused(
        db,
        submitted,
        "reviewer_conflict",
        lambda: rewards.review_claim(db, world.actor("reviewer2"), submitted.id, "approve"),
    )
    # A plain member cannot review at all.
    await _refused(
        db,
        submitted,
        "forbidden",
        lambda: rewards.review_claim(db, world.actor("bob"), submitted.id, "approve"),
    )


async def test_members_claim_only_for_themselves_organizers_for_anyone(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    with pytest.raises(DomainError) as caught:
        await _claim(db, world, rule, who="alice", by="bob")
    assert caught.value.code == "not_household_member"
    claim = await _claim(db, world, rule, who="alice", by="organizer")
    assert claim.submitted_by == world.members["organizer"].id
    assert await db.scalar(select(func.count()).select_from(Claim)) == 1


async def test_two_reviewers_needed_at_threshold(db: Any, world: World) -> None:
    rule = await _rule(db, world, code="zero-bride-price", pts=200, title="零彩礼婚嫁")
    claim = await _claim(db, world, rule, by="organizer")
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    assert claim.status == "submitted"  # one approval is not enough for 200 points
    await _refused(
        db,
        claim,
        "already_reviewed_by_you",
        lambda: rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve"),
    )
    await rewards.review_claim(db, world.actor("reviewer2"), claim.id, "approve")
    assert claim.status == "publicized"


async def test_threshold_is_a_community_setting(db: Any, world: World) -> None:
    await rewards.update_settings(db, world.actor("admin"), world.cid, two_reviewers_from_points=10)
    rule = await _rule(db, world, pts=20)
    claim = await _claim(db, world, rule)
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    assert claim.status == "submitted"


async def test_rejection_is_final_and_every_later_transition_refused(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    claim = await _claim(db, world, rule)
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "reject", "证据不足")
    assert claim.status == "rejected" and claim.decision_note == "证据不足"
    await _refused(
        db,
        claim,
        "claim_not_reviewable",
        lambda: rewards.review_claim(db, world.actor("reviewer2"), claim.id, "approve"),
    )
    await _refused(
        db,
        claim,
        "claim_not_publicized",
        lambda: rewards.object_to_claim(db, world.actor("bob"), claim.id, "不实"),
    )
    assert await rewards.settle_claim(db, claim.id) == "skipped"
    assert claim.status == "rejected"


async def test_objection_needs_publicity_and_returns_claim_to_review(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    claim = await _claim(db, world, rule)
    await _refused(
        db,
        claim,
        "claim_not_publicized",
        lambda: rewards.object_to_claim(db, world.actor("bob"), claim.id, "不实"),
    )
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    objection = await rewards.object_to_claim(db, world.actor("bob"), claim.id, "她家垃圾没分类")
    assert claim.status == "submitted" and claim.publicity_ends_at is None and claim.review_round == 2
    view = await reward_views.get_claim(db, world.actor("reviewer"), claim.id)
    assert [(o.reason, o.resolved) for o in view.objections] == [("她家垃圾没分类", False)]
    assert view.objections[0].member_name == "b*b"  # the objector's name is masked too
    assert view.approvals == 0  # the first round's approval no longer counts
    # The same reviewer may decide again in the new round; settlement refuses while under review.
    assert await rewards.settle_claim(db, claim.id) == "skipped"
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve", "已核实")
    assert claim.status == "publicized"
    await db.refresh(objection)
    assert objection.resolved_at is not None


async def test_settlement_posts_once_when_publicity_ends(db: Any, world: World, maker: Any) -> None:
    rule = await _rule(db, world, publicity_days=3)
    claim = await _claim(db, world, rule)
    await rewards.review_claim(db, world.actor("reviewer"), claim.id, "approve")
    claim_id = claim.id
    await db.commit()
    assert await rewards.settle_due_claims(maker) == 0  # still on public notice
    clock.advance(timedelta(days=3, seconds=1))
    assert await rewards.settle_due_claims(maker) == 1
    assert await rewards.settle_due_claims(maker) == 0  # the job runs again: nothing more
    assert await rewards.settle_claim(db, claim_id) == "skipped"
    settled = await db.get(Claim, claim_id)
    await db.refresh(settled)
    assert settled is not None and settled.status == "awarded" and settled.transfer_id is not None
    assert await _available(db, world, "alice") == 20
    entries = await points.transfers_for_ref(db, world.cid, "claim", str(claim_id))
    assert len(entries) == 1
    await db.rollback()


async def test_yearly_limit_at_submission(db: Any, world: World) -> None:
    rule = await _rule(db, world, limit_per_member_per_year=1)
    first = await _claim(db, world, rule, days_ago=1)
    with pytest.raises(DomainError) as caught:
        await _claim(db, world, rule)
    assert caught.value.code == "yearly_limit_reached"
    assert await db.scalar(select(func.count()).select_from(Claim)) == 1
    # Another member is not affected; a rejected claim frees the slot.
    await _claim(db, world, rule, who="bob")
    await rewards.review_claim(db, world.actor("reviewer"), first.id, "reject")
    await _claim(db, world, rule)


async def test_yearly_limit_follows_the_local_new_year(db: Any, world: World) -> None:
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai.
    clock.set_now(datetime(2026, 12, 31, 15, 0, tzinfo=UTC))
    rule = await _rule(db, world, limit_per_member_per_year=1)
    await _claim(db, world, rule)
    with pytest.raises(DomainError):
        await _claim(db, world, rule)
    clock.set_now(datetime(2026, 12, 31, 17, 0, tzinfo=UTC))
    claim = await _claim(db, world, rule)
    assert claim.year == 2027


async def test_yearly_limit_rechecked_at_settlement(db: Any, world: World, maker: Any) -> None:
    rule = await _rule(db, world, publicity_days=1, limit_per_member_per_year=2)
    a = await _claim(db, world, rule)
    b = await _claim(db, world, rule, days_ago=1)
    for c in (a, b):
        await rewards.review_claim(db, world.actor("reviewer"), c.id, "approve")
    await rewards.update_rule(db, world.actor("admin"), rule.id, limit_per_member_per_year=1)
    await db.commit()
    clock.advance(timedelta(days=1, seconds=1))
    assert await rewards.settle_due_claims(maker) == 1
    statuses = sorted((await db.scalars(select(Claim.status))).all())
    assert statuses == ["awarded", "rejected"]
    assert await _available(db, world, "alice") == 20
    await db.rollback()


async def test_inactive_rule_and_missing_evidence_refused(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    with pytest.raises(DomainError) as caught:
        await rewards.submit_claim(db, world.actor("alice"), rule.id, world.members["alice"].id, "  ")
    assert caught.value.code == "evidence_required"
    await rewards.update_rule(db, world.actor("admin"), rule.id, active=False)
    with pytest.raises(DomainError) as caught:
        await _claim(db, world, rule)
    assert caught.value.code == "rule_inactive"
    assert await db.scalar(select(func.count()).select_from(Claim)) == 0


async def test_rule_edits_do_not_change_claims_in_flight(db: Any, world: World) -> None:
    rule = await _rule(db, world, pts=20)
    claim = await _claim(db, world, rule)
    await applied(db, world, await rewards.update_rule(db, world.actor("admin"), rule.id, points=99))
    assert claim.points == 20


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (3000, 2000), (200, 30, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "GPS-Leaking-Software"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


async def test_photos_are_reencoded_without_exif_and_bounded(db: Any, world: World) -> None:
    rule = await _rule(db, world)
    claim = await _claim(db, world, rule)
    raw = _jpeg_with_exif()
    assert b"SecretCam" in raw
    photo = await rewards.add_photo(db, world.actor("alice"), claim.id, raw)
    assert b"SecretCam" not in photo.data and b"Exif" not in photo.data
    assert max(photo.width, photo.height) == 1600
    with Image.open(io.BytesIO(photo.data)) as img:
        assert img.format == "JPEG" and not img.getexif()
    for bad, code in ((b"not an image at all", "invalid_photo"), (b"", "invalid_photo")):
        with pytest.raises(DomainError) as caught:
            await rewards.add_photo(db, world.actor("alice"), claim.id, bad)
        assert caught.value.code == code
    with pytest.raises(DomainError) as caught:
        await rewards.add_photo(db, world.actor("bob"), claim.id, raw)
    assert caught.value.code == "forbidden"
    assert await db.scalar(select(func.count()).select_from(ClaimPhoto)) == 1


async def test_the_board_shows_the_approved_summary_with_every_members_name_masked(
    db: Any, world: World
) -> None:
    """The evidence names a third person of the community and a phone: the board masks both; a reviewer
    who writes their own summary decides what is published (names masked all the same)."""
    from service.board import views as board_views

    rule = await _rule(db, world, publicity_days=3)
    carol = world.members["carol"]
    evidence = f"帮助邻居{carol.name}（电话13812345678）搬家，{carol.name}很感谢"
    told = await rewards.submit_claim(db, world.actor("alice"), rule.id, world.members["alice"].id, evidence)
    await rewards.review_claim(db, world.actor("reviewer"), told.id, "approve")
    written = await rewards.submit_claim(
        db, world.actor("bob"), rule.id, world.members["bob"].id, f"陪{carol.name}看病", event_ref="x-2"
    )
    await rewards.review_claim(
        db, world.actor("reviewer"), written.id, "approve", public_summary=f"陪同{carol.name}就医"
    )
    board = await board_views.board(db, world.cid)
    shown = {c.id: c.evidence_summary for c in board.under_publicity}
    assert carol.name not in shown[told.id] and "138****5678" in shown[told.id]
    assert shown[told.id].count(mask_name(carol.name)) == 2
    assert shown[written.id] == f"陪同{mask_name(carol.name)}就医"
