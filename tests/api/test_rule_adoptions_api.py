"""Village rules adopted in public (issue 21 item 7): an admin records the meeting that adopted a rule
(板凳会: date, attendance, votes for and against, in force from); the public board lists the rules in
force with those facts and the past versions; each claim names the version it was filed under. A record
a meeting could not have made (no majority, more votes than people, a meeting not held yet) is refused
and writes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from service import clock
from service.rewards.models import RuleAdoption
from tests.support.problems import problem
from tests.support.rewards import make_rule
from tests.support.world import World


def _today() -> date:
    return clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()


def _meeting(**kw: Any) -> dict[str, Any]:
    today = _today()
    body = {
        "meeting": "板凳会",
        "held_on": (today - timedelta(days=3)).isoformat(),
        "attendance": 35,
        "votes_for": 30,
        "votes_against": 2,
        "effective_from": today.isoformat(),
    }
    return body | {k: v.isoformat() if isinstance(v, date) else v for k, v in kw.items()}


async def _count(maker: Any) -> int:
    async with maker() as db:
        return int(await db.scalar(select(func.count()).select_from(RuleAdoption)) or 0)


async def test_a_rule_adopted_at_a_bench_meeting_is_on_the_board_and_claims_name_its_version(
    client: Any, world: World, maker: Any
) -> None:
    rule = await make_rule(client, world, code="zero-bride", title="零彩礼", points=50, publicity_days=0)
    url = f"/api/v1/rules/{rule['id']}/adoptions"
    # What no meeting could have adopted is refused, and nothing is written.
    today = _today()
    for bad, field in (
        (_meeting(votes_for=17, votes_against=10), "votes"),  # 17 of 35: no majority
        (_meeting(votes_for=30, votes_against=10), "votes"),  # 40 votes, 35 present
        (_meeting(held_on=today + timedelta(days=2)), "held_on"),  # not held yet
        (_meeting(effective_from=today - timedelta(days=10)), "effective_from"),  # before the meeting
    ):
        r = await client.post(url, json=bad, headers=world.h["admin"])
        problem(r, 422, "invalid_adoption")
        assert r.json()["errors"][0]["field"] == field
    problem(await client.post(url, json=_meeting(), headers=world.h["organizer"]), 403, "forbidden")
    assert await _count(maker) == 0

    made = await client.post(url, json=_meeting(), headers=world.h["admin"])
    assert made.status_code == 201 and made.json()["version"] == 1 and made.json()["points"] == 50, made.text
    claim = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["alice"].id), "evidence": "结婚证"},
        headers=world.h["alice"],
    )
    assert claim.status_code == 201 and claim.json()["rule_version"] == 1, claim.text

    # A second meeting adopts it again, in force next week: claims today still name version 1.
    later = _meeting(held_on=today, effective_from=today + timedelta(days=7), votes_for=28)
    second = await client.post(url, json=later, headers=world.h["admin"])
    assert second.status_code == 201 and second.json()["version"] == 2
    versions = await client.get(url)  # public: no login
    assert [v["version"] for v in versions.json()] == [2, 1]
    bob_claim = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["bob"].id), "evidence": "结婚证"},
        headers=world.h["bob"],
    )
    assert bob_claim.json()["rule_version"] == 1

    board = await client.get(f"/board/{world.cid}", headers={"Accept-Language": "zh-CN"})
    assert board.status_code == 200
    assert 'data-testid="village-rules"' in board.text and "零彩礼" in board.text
    assert "板凳会通过（到会 35 人，赞成 30，反对 2）" in board.text
    assert "其他版本" in board.text  # version 2, not in force yet, stays readable

    clock.advance(timedelta(days=8))
    carol_claim = await client.post(
        "/api/v1/claims",
        json={"rule_id": rule["id"], "member_id": str(world.members["carol"].id), "evidence": "结婚证"},
        headers=world.h["carol"],
    )
    assert carol_claim.json()["rule_version"] == 2
