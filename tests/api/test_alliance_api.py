"""The street's alliance through the HTTP API (issue 20): units of a region serve every community of the
street, each resident pays with their own community's points, each community's ledger balances on its
own, and the unit settles per community."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from service import clock
from service.accounts.models import Member
from service.points import service as points
from service.points.models import Account
from service.store.models import Voucher
from tests.support.alliance import Street, fund_in, make_street, unit_offer
from tests.support.balances import fund
from tests.support.world import World


async def _claim(client: Any, s: Street, oid: Any, who: str, **body: Any) -> Any:
    headers = s.world.h[who] if who in s.world.h else s.h[who]
    return await client.post(f"/api/v1/offers/{oid}/vouchers", json=body or None, headers=headers)


async def _redeem(client: Any, s: Street, code: str, who: str = "staff") -> Any:
    return await client.post("/api/v1/vouchers/redeem", json={"code": code}, headers=s.h[who])


async def _available(maker: Any, cid: Any, member_id: Any) -> tuple[int, int]:
    async with maker() as db:
        b = await points.balance(db, cid, member_id)
        return b.available, b.held


async def _ledgers_clean(maker: Any, *cids: Any) -> None:
    """Each community's ledger verifies, and its accounts sum to zero on their own."""
    async with maker() as db:
        for cid in cids:
            report = await points.verify(db, cid)
            assert report.ok, report.problems
            total = await db.scalar(select(func.sum(Account.balance)).where(Account.community_id == cid))
            assert int(total or 0) == 0, f"community {cid} does not balance: {total}"


async def test_official_adds_a_unit_invites_staff_who_logs_in_with_the_code(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    body = {"name": "惠民超市", "kind": "shop", "address": "石油路 3 号", "hours": "7:00-22:00"}
    r = await client.post(f"/api/v1/regions/{s.street_id}/partners", json=body, headers=s.h["official"])
    assert r.status_code == 201, r.text
    unit = r.json()
    assert (unit["region_id"], unit["community_id"], unit["kind"]) == (str(s.street_id), None, "shop")
    listed = (await client.get(f"/api/v1/regions/{s.street_id}/partners", headers=s.h["official"])).json()
    assert [u["name"] for u in listed] == ["康乐药房", "惠民超市", "阳光健身"] or {
        u["name"] for u in listed
    } == {
        "康乐药房",
        "惠民超市",
        "阳光健身",
    }
    # A community's admin is no official of the street: refused, nothing added.
    r = await client.post(
        f"/api/v1/regions/{s.street_id}/partners", json=body | {"name": "x"}, headers=world.h["admin"]
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/partners/{unit['id']}/staff",
        json={"phone": "13500000077", "name": "收银员"},
        headers=s.h["official"],
    )
    assert r.status_code == 200, r.text
    code = r.json()["activation_code"]
    assert code
    r = await client.post("/api/v1/auth/activate", json={"code": code, "password": "staff-pass-123"})
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/auth/login", json={"phone": "13500000077", "password": "staff-pass-123"})
    assert r.status_code == 200, r.text
    # The official saw the code: the account is held by them until its owner sets a password by SMS.
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["held"] is True
    async with maker() as db:
        held_by = await db.scalar(select(Member.held_by).where(Member.phone == "13500000077"))
    assert held_by == s.people["official"].id
    client.cookies.clear()
    # Paused, its offers leave the offers page; resumed, they come back.
    r = await client.patch(f"/api/v1/partners/{unit['id']}", json={"active": False}, headers=s.h["official"])
    assert r.status_code == 200 and r.json()["active"] is False


async def test_a_neighbour_communitys_resident_claims_and_the_unit_redeems(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    jl = s.people["jl"]
    await fund_in(maker, s.jianlan, jl.id, 200)
    await fund(maker, world, "alice", 200)
    r = await client.post(
        f"/api/v1/partners/{s.unit_id}/offers",
        json={"title": "免费测血压", "points": 30, "voucher_hours": 72, "monthly_quota": 50},
        headers=s.h["staff"],
    )
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["community_id"] is None
    # Both communities of the street list the unit's offer, with its address and opening hours.
    for cid, headers in ((s.jianlan, s.h["jl"]), (world.cid, world.h["alice"])):
        listed = (await client.get(f"/api/v1/communities/{cid}/offers", headers=headers)).json()
        assert [(o["id"], o["address"], o["hours"]) for o in listed if o["partner_id"] == str(s.unit_id)] == [
            (offer["id"], "石油路 12 号", "8:00-21:00")
        ]
    r = await _claim(client, s, offer["id"], "jl")
    assert r.status_code == 201, r.text
    voucher = r.json()
    assert voucher["expires_at"][:13] == (clock.now() + timedelta(hours=72)).isoformat()[:13]
    assert await _available(maker, s.jianlan, jl.id) == (170, 30)  # 建兰's points, not another's
    r = await _redeem(client, s, voucher["code"])
    assert r.status_code == 200, r.text
    assert await _available(maker, s.jianlan, jl.id) == (170, 0)
    # alice pays with 幸福里's (the world's) points at the same unit.
    code = (await _claim(client, s, offer["id"], "alice")).json()["code"]
    assert (await _redeem(client, s, code)).status_code == 200
    assert await _available(maker, world.cid, world.members["alice"].id) == (170, 0)
    async with maker() as db:
        earned = {
            cid: bal
            for cid, bal in await db.execute(
                select(Account.community_id, Account.balance).where(Account.partner_id == s.unit_id)
            )
        }
    assert earned == {s.jianlan: 30, world.cid: 30}  # the unit's earnings, per community
    await _ledgers_clean(maker, s.jianlan, world.cid)
    st = (await client.get(f"/api/v1/partners/{s.unit_id}/settlement", headers=s.h["staff"])).json()
    assert {(c["community_name"], c["count"], c["points"]) for c in st["communities"]} == {
        ("建兰社区", 1, 30),
        ("测试社区", 1, 30),
    }
    assert (st["count"], st["points"]) == (2, 60)


async def test_residents_outside_the_street_see_none_of_its_offers_and_are_refused(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    out = s.people["out"]
    await fund_in(maker, s.outside, out.id, 200)
    oid = await unit_offer(maker, s)
    listed = (await client.get(f"/api/v1/communities/{s.outside}/offers", headers=s.h["out"])).json()
    assert listed == []
    for body in ({}, {"community_id": str(s.outside)}, {"community_id": str(s.jianlan)}):
        r = await _claim(client, s, oid, "out", **body)
        assert r.status_code == 404 and r.json()["code"] == "offer_not_found", r.text
    assert await _available(maker, s.outside, out.id) == (200, 0)
    async with maker() as db:
        assert await db.scalar(select(func.count()).select_from(Voucher)) == 0


async def test_a_units_staff_cannot_redeem_another_units_voucher(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    await fund_in(maker, s.jianlan, s.people["jl"].id, 100)
    oid = await unit_offer(maker, s)
    code = (await _claim(client, s, oid, "jl")).json()["code"]
    r = await _redeem(client, s, code, "staff2")
    assert r.status_code == 404 and r.json()["code"] == "voucher_not_found"
    # Nor can a resident, nor another community's shop staff.
    assert (
        await client.post("/api/v1/vouchers/redeem", json={"code": code}, headers=world.h["partner"])
    ).status_code == 404
    async with maker() as db:
        assert await db.scalar(select(Voucher.status).where(Voucher.code == code)) == "issued"
    assert (await _redeem(client, s, code)).status_code == 200


async def test_settlement_and_alliance_report_equal_the_redemptions_per_community(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    residents = [(s.jianlan, s.people["jl"], s.h["jl"]), (world.cid, world.members["bob"], world.h["bob"])]
    for cid, m, _h in residents:
        await fund_in(maker, cid, m.id, 1000)
    cheap = await unit_offer(maker, s, points_price=20)
    dear = await unit_offer(maker, s, title="中药代煎", points_price=70)
    gym = await unit_offer(maker, s, "staff2", title="健身月卡", points_price=150)
    plan = [
        (0, cheap, "staff"), (0, dear, "staff"), (0, gym, "staff2"), (1, cheap, "staff"),
        (1, gym, "staff2"), (1, gym, "staff2"), (0, cheap, None),
    ]  # fmt: skip
    for i, oid, redeemer in plan:
        cid, _m, headers = residents[i]
        r = await client.post(f"/api/v1/offers/{oid}/vouchers", headers=headers)
        assert r.status_code == 201, r.text
        if redeemer:
            assert (await _redeem(client, s, r.json()["code"], redeemer)).status_code == 200
    async with maker() as db:
        sums: dict[tuple[Any, Any], tuple[int, int]] = defaultdict(lambda: (0, 0))
        for pid, cid, n, p in await db.execute(
            select(Voucher.partner_id, Voucher.community_id, func.count(), func.sum(Voucher.points))
            .where(Voucher.status == "redeemed")
            .group_by(Voucher.partner_id, Voucher.community_id)
        ):
            sums[(pid, cid)] = (int(n), int(p))
    assert sums[(s.unit_id, s.jianlan)] == (2, 90) and sums[(s.other_unit_id, world.cid)] == (2, 300)
    for pid, who in ((s.unit_id, "staff"), (s.other_unit_id, "staff2")):
        st = (await client.get(f"/api/v1/partners/{pid}/settlement", headers=s.h[who])).json()
        got = {(c["community_id"], c["count"], c["points"]) for c in st["communities"]}
        assert got == {(str(c), n, p) for (p_, c), (n, p) in sums.items() if p_ == pid}
        assert st["points"] == sum(p for (p_, _c), (_n, p) in sums.items() if p_ == pid)
        x = await client.get(f"/api/v1/partners/{pid}/settlement?format=xlsx", headers=s.h[who])
        assert x.status_code == 200 and x.content[:2] == b"PK"
    r = await client.get(
        "/api/v1/reports/alliance", params={"scope": f"region:{s.street_id}"}, headers=s.h["official"]
    )
    assert r.status_code == 200, r.text
    report = r.json()
    cells = {
        (row["partner_id"], row["community_id"]): (row["vouchers"][-1], row["points"][-1])
        for row in report["rows"]
    }
    assert cells == {(str(p), str(c)): v for (p, c), v in sums.items()}
    assert report["points"][-1] == sum(p for _n, p in sums.values())
    r = await client.get(
        "/api/v1/reports/alliance",
        params={"scope": f"region:{s.street_id}", "format": "csv"},
        headers=s.h["official"],
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["联盟单位", "类型", "社区"] and rows[-1][0] == "合计"
    assert rows[-1][-1] == str(sum(p for _n, p in sums.values()))
    # The community's admin sees the street's units in the community's own partner report.
    r = await client.get(f"/api/v1/communities/{world.cid}/partner-report", headers=world.h["admin"])
    lines = {ln["partner_id"]: (ln["count"], ln["points"]) for ln in r.json()["partners"]}
    assert lines[str(s.other_unit_id)] == sums[(s.other_unit_id, world.cid)]
    # A resident is no official: refused.
    r = await client.get(
        "/api/v1/reports/alliance", params={"scope": f"region:{s.street_id}"}, headers=s.h["jl"]
    )
    assert r.status_code == 403


async def test_quotas_limits_and_the_community_whose_points_pay(
    client: Any, world: World, maker: Any
) -> None:
    s = await make_street(maker, world)
    jl = s.people["jl"]
    await fund_in(maker, s.jianlan, jl.id, 1000)
    await fund_in(maker, s.jianlan, s.people["official"].id, 100)
    monthly = await unit_offer(maker, s, monthly_quota=2)
    limited = await unit_offer(maker, s, title="理发", member_month_limit=1)
    assert (await _claim(client, s, limited, "jl")).status_code == 201
    r = await _claim(client, s, limited, "jl")
    assert r.status_code == 409 and r.json()["code"] == "limit_reached"
    assert (await _claim(client, s, monthly, "jl")).status_code == 201
    assert (await _claim(client, s, monthly, "official")).status_code == 201
    r = await _claim(client, s, monthly, "jl")
    assert r.status_code == 409 and r.json()["code"] == "offer_sold_out"
    # Default validity: 7 days.
    listed = (
        await client.get("/api/v1/me/vouchers", params={"community_id": str(s.jianlan)}, headers=s.h["jl"])
    ).json()
    assert listed["items"][0]["expires_at"][:10] == (clock.now() + timedelta(days=7)).isoformat()[:10]
    # A resident of two communities of the street says whose points pay.
    async with maker() as db:
        from service.accounts import service as accounts

        await accounts.add_member(db, world.root, world.cid, jl.phone, jl.name, None, "member")
        await db.commit()
    other = await unit_offer(maker, s, title="量体温")
    r = await _claim(client, s, other, "jl")
    assert r.status_code == 422 and r.json()["code"] == "community_required", r.text
    await fund_in(maker, world.cid, jl.id, 100)
    r = await _claim(client, s, other, "jl", community_id=str(world.cid))
    assert r.status_code == 201, r.text
    assert await _available(maker, world.cid, jl.id) == (70, 30)
    # The unit's own monthly quota counts over all its offers.
    async with maker() as db:
        from service.accounts.models import Partner

        (await db.get(Partner, s.unit_id)).monthly_quota = 4  # 4 vouchers this month so far  # type: ignore[union-attr]
        await db.commit()
    r = await _claim(client, s, other, "jl", community_id=str(world.cid))
    assert r.status_code == 409 and r.json()["code"] == "offer_sold_out"


async def test_a_community_joining_the_street_is_served_by_its_units_staff(
    client: Any, world: World, maker: Any
) -> None:
    from service.accounts import service as accounts
    from service.regions import service as regions

    s = await make_street(maker, world)
    async with maker() as db:
        xihu = await accounts.create_community(db, world.root, "西湖社区", "xihu")
        await points.set_budget(db, xihu.id, 10**6, set_by=world.root.member_id)  # type: ignore[union-attr]
        resident = await accounts.add_member(
            db, world.root, xihu.id, "13500000055", "西湖居民", None, "member"
        )
        await regions.set_community_region(db, world.root, xihu.id, s.street_id)
        await db.commit()
    await fund_in(maker, xihu.id, resident.id, 50)
    oid = await unit_offer(maker, s)
    from service.accounts.service import issue_token
    from tests.support.world import SECRET

    headers = {"Authorization": f"Bearer {issue_token(resident, SECRET)}"}
    r = await client.post(f"/api/v1/offers/{oid}/vouchers", headers=headers)
    assert r.status_code == 201, r.text
    assert (await _redeem(client, s, r.json()["code"])).status_code == 200
    await _ledgers_clean(maker, xihu.id)
