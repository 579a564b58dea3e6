"""Parity of the money rules' three copies: the Python rules, the SQLite path and the PostgreSQL path.

One table of scenarios (award, spend across lots, hold, post, void, expiry, check-out per hour with
rounding, redemption and an order, voucher claims against quotas and limits, refusals) runs on a fresh
PostgreSQL world (the SQL functions of service/*/sql: ``ledger_post``, ``ledger_hold``,
``jifen_scan_batch``, ``store_redeem_batch``, ``store_reserve_batch``, ``store_claim_batch``) and on a
fresh SQLite world (service/points/ledger.py and the ordinary paths), under the same frozen clock. The
written rows are compared field by field (accounts' balances and totals, every entry's amount, sequence
and expiry, every transfer, lot, hold, attendance and voucher, the offers' claim counts), and on both
databases the Python rules recompute every entry hash, every content hash and every balance
(``points.verify``) and derive each attendance's minutes and points (``rules.minutes_inside`` /
``rules.points_for``). Ids differ between runs, so rows are labelled by owner (``member:alice``).

The self-tests alter ONE copy at a time (a SQL function on the PostgreSQL database, the SQLite path, the
Python rules) and show the comparison then fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import clock, dbcode
from service.accounts.models import Partner
from service.activities import rules as activity_rules
from service.activities import service as activities
from service.activities.models import Activity, Attendance
from service.db import create_engine, create_session_maker, upgrade_database
from service.errors import DomainError
from service.points import ledger, rules
from service.points import service as points
from service.points.models import Account, Entry, Hold, IssuanceMonth, Lot, PendingIssuance, Policy, Transfer
from service.store import fastpath
from service.store import rules as store_rules
from service.store import service as store
from service.store.models import Offer, Order, Voucher
from tests.support.database import in_thread, truncate
from tests.support.world import World, populate

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
Maker = async_sessionmaker[AsyncSession]
Scenario = Callable[[Maker, World], Awaitable[None]]


# ---------------------------------------------------------------- the scenarios (the same calls on both)


async def _award(maker: Maker, w: World, who: str, amount: int, key: str) -> None:
    async with maker() as db:
        await points.award(
            db, community_id=w.cid, member_id=w.members[who].id, points=amount, code="manual_award",
            memo=f'奖励 "{who}"\n第{key}', idempotency_key=key,
        )  # fmt: skip
        await db.commit()


async def _refused(maker: Maker, code: str, act: Callable[[AsyncSession], Awaitable[Any]]) -> None:
    async with maker() as db:
        with pytest.raises(DomainError) as refused:
            await act(db)
        await db.rollback()
    assert refused.value.code == code


async def _policy(maker: Maker, w: World, mode: str, value: int) -> None:
    async with maker() as db:
        row = await db.get(Policy, w.cid)
        if row is None:
            db.add(Policy(community_id=w.cid, expiry_mode=mode, expiry_value=value))
        else:
            row.expiry_mode, row.expiry_value = mode, value
        await db.commit()


async def award(maker: Maker, w: World) -> None:
    await _award(maker, w, "alice", 120, "k1")
    await _award(maker, w, "bob", 35, "k2")
    await _award(maker, w, "alice", 120, "k1")  # a replay writes nothing

    async def conflict(db: AsyncSession) -> Any:
        return await points.award(
            db, community_id=w.cid, member_id=w.members["alice"].id, points=121, code="manual_award",
            idempotency_key="k1",
        )  # fmt: skip

    await _refused(maker, "idempotency_conflict", conflict)


async def spend_across_lots(maker: Maker, w: World) -> None:
    await _policy(maker, w, "days", 30)
    await _award(maker, w, "alice", 10, "a")  # expires T0 + 30 days
    clock.advance(timedelta(days=1))
    await _award(maker, w, "alice", 10, "b")  # a day later
    await _policy(maker, w, "years", 1)
    await _award(maker, w, "alice", 7, "c")  # 1 January, Shanghai time
    await _policy(maker, w, "never", 0)
    await _award(maker, w, "alice", 10, "d")  # never expires
    clock.advance(timedelta(minutes=5))
    for amount in (15, 9):
        async with maker() as db:
            await points.spend(
                db, community_id=w.cid, member_id=w.members["alice"].id, points=amount, payee="store",
                code="store", memo="积分超市", idempotency_key=f"s{amount}",
            )  # fmt: skip
            await db.commit()

    async def overdraft(db: AsyncSession) -> Any:
        return await points.spend(
            db, community_id=w.cid, member_id=w.members["alice"].id, points=50, payee="store", code="store"
        )

    await _refused(maker, "insufficient_points", overdraft)


async def hold_post_void(maker: Maker, w: World) -> None:
    await _award(maker, w, "alice", 100, "h0")
    held = []
    for amount in (40, 30):
        async with maker() as db:
            h = await points.hold(
                db, community_id=w.cid, member_id=w.members["alice"].id, points=amount, payee="store",
                expires_at=T0 + timedelta(days=1), code="order", memo=f"订单 {amount}",
                idempotency_key=f"hold{amount}",
            )  # fmt: skip
            await db.commit()
            held.append(h.hold_id)
    clock.advance(timedelta(minutes=1))
    async with maker() as db:
        await points.post_hold(db, held[0], actor_id=w.members["clerk"].id)
        await db.commit()
    async with maker() as db:
        await points.void_hold(db, held[1], reason="cancelled")
        await db.commit()

    async def too_much(db: AsyncSession) -> Any:
        return await points.hold(
            db, community_id=w.cid, member_id=w.members["alice"].id, points=61, payee="store",
            expires_at=T0 + timedelta(days=1), code="order", idempotency_key="hold61",
        )  # fmt: skip

    await _refused(maker, "insufficient_points", too_much)


async def expiry(maker: Maker, w: World) -> None:
    await _policy(maker, w, "days", 1)
    await _award(maker, w, "alice", 20, "e1")
    await _award(maker, w, "bob", 5, "e2")
    async with maker() as db:
        await points.spend(
            db, community_id=w.cid, member_id=w.members["alice"].id, points=6, payee="store", code="store"
        )
        await db.commit()
    clock.advance(timedelta(days=2))
    async with maker() as db:
        await points.expire_points(db)
        await db.commit()


async def check_out_per_hour(maker: Maker, w: World) -> None:
    async with maker() as db:
        for shard in range(points.ISSUANCE_SHARDS):
            await points.account_for(db, w.cid, "issuance", shard=shard)
        for who in ("alice", "bob", "carol"):
            await points.account_for(db, w.cid, "member", w.members[who].id)
        draft = activities.ActivityDraft(
            "河道清理", T0 - timedelta(minutes=10), T0 + timedelta(hours=3), "per_hour", 7, points_max=15
        )
        act = await activities.create_activity(db, w.actor("organizer"), w.cid, draft)
        token = activity_rules.make_token(activity_rules.KIND_POSTER, act.id, act.poster_version, act.secret)
        await db.commit()

    async def scan(who: str) -> None:
        async with maker() as db:
            await activities.check_in_with_login(db, w.members[who].id, 0, token)
            await db.commit()

    for who in ("alice", "bob", "carol"):
        await scan(who)
    clock.advance(timedelta(minutes=20, seconds=59))
    await scan("bob")  # 20 minutes: 7 x 20 // 60 = 2
    clock.advance(timedelta(minutes=74, seconds=30))
    await scan("alice")  # 95 minutes: 7 x 95 // 60 = 11
    clock.advance(timedelta(hours=1))
    await scan("carol")  # 155 minutes: 7 x 155 // 60 = 18, capped at 15


async def redemption_and_order(maker: Maker, w: World) -> None:
    await _award(maker, w, "alice", 100, "r0")
    await _award(maker, w, "alice", 1, "r1")
    async with maker() as db:
        offer = await store.create_offer(
            db, w.actor("partner"), w.partner.id, title="理发 8 折", points_price=30
        )
        product = await store.create_product(
            db, w.actor("clerk"), w.cid, name="大米 5kg", points_price=25, stock=3
        )
        await db.commit()
    async with maker() as db:
        voucher = await store.claim_voucher(db, w.actor("alice"), offer.id)
        code = voucher.code
        await db.commit()
    clock.advance(timedelta(minutes=3))
    async with maker() as db:
        await store.redeem_voucher(db, w.actor("partner"), code)
        await db.commit()
    await _refused(
        maker, "voucher_already_redeemed", lambda db: store.redeem_voucher(db, w.actor("partner"), code)
    )
    async with maker() as db:
        await store.reserve_order(db, w.actor("alice"), product.id, 2)
        await db.commit()
    await _refused(
        maker, "insufficient_points", lambda db: store.reserve_order(db, w.actor("alice"), product.id, 1)
    )


async def claims(maker: Maker, w: World) -> None:
    """Voucher claims: successes (one inside a transaction: the batch of one), the total quota exhausted,
    the member's monthly and lifetime limits, the unit's monthly quota, points short. On PostgreSQL the
    successes are the claim batch's (``store_claim_batch``) but the first (it makes the shop's account),
    every refusal the ordinary path's."""
    await _award(maker, w, "alice", 100, "c0")
    await _award(maker, w, "bob", 40, "c1")
    await _award(maker, w, "carol", 25, "c2")
    async with maker() as db:
        staff = w.actor("partner")
        pressure = await store.create_offer(
            db, staff, w.partner.id, title=" 免费测血压 ", points_price=30, quota_total=3,
            member_month_limit=2, voucher_hours=48,
        )  # fmt: skip
        haircut = await store.create_offer(
            db, staff, w.partner.id, title="理发 8 折", points_price=30, monthly_quota=5, limit_per_member=1
        )
        water = await store.create_offer(db, staff, w.partner.id, title="送水上门", points_price=1)
        await db.commit()

    async def claim(who: str, offer: Offer) -> None:
        async with maker() as db:
            await store.claim_voucher(db, w.actor(who), offer.id)
            await db.commit()

    def refused(who: str, offer: Offer) -> Callable[[AsyncSession], Awaitable[Any]]:
        return lambda db: store.claim_voucher(db, w.actor(who), offer.id)

    await claim("alice", pressure)
    clock.advance(timedelta(minutes=1))
    await claim("alice", pressure)
    await _refused(maker, "limit_reached", refused("alice", pressure))  # twice a month
    async with maker() as db, db.begin():
        await store.claim_voucher(db, w.actor("bob"), pressure.id)  # the third: the quota is full
    await _refused(maker, "offer_sold_out", refused("carol", pressure))
    await _refused(maker, "insufficient_points", refused("carol", haircut))  # 25 < 30
    await _refused(maker, "insufficient_points", refused("bob", haircut))  # 10 free
    clock.advance(timedelta(minutes=1))
    await claim("alice", haircut)
    await _refused(maker, "limit_reached", refused("alice", haircut))  # once ever
    async with maker() as db:
        shop = await db.get(Partner, w.partner.id)
        assert shop is not None
        shop.monthly_quota = 5  # 4 vouchers of the shop this month so far
        await db.commit()
    await claim("carol", water)
    await _refused(maker, "offer_sold_out", refused("alice", water))  # the shop's 5 of the month


async def _budget(maker: Maker, w: World, monthly_points: int) -> None:
    async with maker() as db:
        await points.set_budget(db, w.cid, monthly_points, set_by=w.members["root"].id)
        await db.commit()


async def budget(maker: Maker, w: World) -> None:
    """The issuance budget: an award beyond it waits, a reversal gives its points back to the month, a
    raise posts what waits, a new month starts from nothing. (Every scenario compares the month
    counters: check_out_per_hour counts them through the batch on PostgreSQL.)"""
    await _budget(maker, w, 30)
    await _award(maker, w, "alice", 20, "b1")
    await _award(maker, w, "bob", 15, "b2")  # 35 > 30: pending
    async with maker() as db:
        first = await db.scalar(select(Transfer.id).where(Transfer.idempotency_key == "b1"))
        assert first is not None
        await points.reverse(db, first, memo="更正")  # the month's 20 given back
        await db.commit()
    await _award(maker, w, "carol", 10, "b3")  # fits now (b2 still waits for the job or a raise)
    await _budget(maker, w, 40)  # releases b2: 10 + 15 = 25
    clock.advance(timedelta(days=12))  # 2 December, Shanghai time: a new month
    await _award(maker, w, "alice", 40, "b4")
    await _award(maker, w, "bob", 1, "b5")  # 41 > 40: pending


SCENARIOS: dict[str, Scenario] = {
    "budget": budget,
    "award": award,
    "spend_across_lots": spend_across_lots,
    "hold_post_void": hold_post_void,
    "expiry": expiry,
    "check_out_per_hour": check_out_per_hour,
    "redemption_and_order": redemption_and_order,
    "claims": claims,
}


# ---------------------------------------------------------------- the comparison


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


async def snapshot(maker: Maker, w: World) -> dict[str, Any]:
    """The world's money rows, labelled by owner; issuance shards taken together (a batch picks any); the
    order of a system account's entries within one moment depends on which member a job reached first."""
    names = {str(m.id): n for n, m in w.members.items()} | {str(w.partner.id): "shop"}
    async with maker() as db:
        accounts = list(await db.scalars(select(Account).where(Account.community_id == w.cid)))

        def label(a: Account) -> str:
            kind, _, rest = a.owner_key.partition(":")
            return "issuance" if kind == "issuance" else f"{kind}:{names.get(rest, rest)}"

        lab = {a.id: label(a) for a in accounts}
        totals: dict[str, list[int]] = {}
        for a in accounts:
            row = totals.setdefault(lab[a.id], [0] * 6)
            for i, v in enumerate((a.balance, a.held, a.earned, a.spent, a.expired, a.entry_count)):
                row[i] += v
        entries = list(await db.scalars(select(Entry).where(Entry.community_id == w.cid)))
        legs: dict[uuid.UUID, dict[str, str]] = {}
        for e in entries:
            legs.setdefault(e.transfer_id, {})["credit" if e.points > 0 else "debit"] = lab[e.account_id]
        transfers = list(await db.scalars(select(Transfer).where(Transfer.community_id == w.cid)))
        lots = list(await db.scalars(select(Lot).where(Lot.community_id == w.cid)))
        holds = list(await db.scalars(select(Hold).where(Hold.community_id == w.cid)))
        atts = list(await db.scalars(select(Attendance).where(Attendance.community_id == w.cid)))
        vouchers = list(await db.scalars(select(Voucher).where(Voucher.community_id == w.cid)))
        offers = {o.id: o for o in await db.scalars(select(Offer).where(Offer.partner_id == w.partner.id))}
        orders = list(await db.scalars(select(Order).where(Order.community_id == w.cid)))
        months = list(await db.scalars(select(IssuanceMonth).where(IssuanceMonth.community_id == w.cid)))
        waiting = list(await db.scalars(select(PendingIssuance).where(PendingIssuance.community_id == w.cid)))
    return {
        "issuance_months": sorted((m.month.isoformat(), m.issued) for m in months),
        "pending_issuances": sorted(
            (names[str(x.member_id)], x.points, x.code, x.idempotency_key, x.posted_at is not None)
            for x in waiting
        ),
        "accounts": sorted((k, *v) for k, v in totals.items() if any(v)),
        "entries": sorted(
            (
                lab[e.account_id],
                e.seq if lab[e.account_id].startswith("member:") else 0,
                e.points,
                _utc(e.expires_at),
                _utc(e.created_at),
            )
            for e in entries
        ),
        "transfers": sorted(
            (
                _utc(t.created_at),
                t.code,
                t.points,
                t.memo,
                t.ref_type,
                legs[t.id]["debit"],
                legs[t.id]["credit"],
                (t.idempotency_key or "").split(":")[0],
                t.reverses_id is not None,
            )
            for t in transfers
        ),
        "lots": sorted((lab[x.account_id], x.points, x.remaining, _utc(x.expires_at)) for x in lots),
        "holds": sorted(
            (
                lab[h.account_id],
                lab[h.payee_account_id],
                h.points,
                h.status,
                h.code,
                h.memo,
                _utc(h.expires_at),
                _utc(h.resolved_at),
            )
            for h in holds
        ),
        "attendances": sorted(
            (
                names[str(a.member_id)],
                a.status,
                a.minutes,
                a.points,
                _utc(a.checked_in_at),
                _utc(a.checked_out_at),
            )
            for a in atts
        ),
        "vouchers": sorted(
            (
                names[str(v.member_id)],
                offers[v.offer_id].title,
                v.status,
                v.points,
                _utc(v.expires_at),
                _utc(v.created_at),
                _utc(v.redeemed_at),
                v.partner_id == w.partner.id,
                len(v.code) == 8 and set(v.code) <= set(store_rules.CODE_ALPHABET),
            )
            for v in vouchers
        ),
        "offers": sorted((o.title, o.claimed_count) for o in offers.values()),
        "orders": sorted((o.status, o.quantity, o.points) for o in orders),
    }


async def python_rules(maker: Maker, w: World) -> list[str]:
    """What the Python rules say of the rows the database wrote: every hash recomputed, every
    attendance's minutes and points derived from its times."""
    problems = []
    async with maker() as db:
        report = await points.verify(db, w.cid)
        problems += [f"verify: {p['code']}: {p['detail']}" for p in report.problems]
        rows = (await db.execute(select(Attendance, Activity).join(Activity))).all()
    for att, act in rows:
        if att.status != "out" or att.checked_out_at is None or att.checked_in_at is None:
            continue
        minutes = activity_rules.minutes_inside(
            att.checked_in_at, att.checked_out_at, act.starts_at, act.ends_at
        )
        expected = activity_rules.points_for(act.points_mode, act.points, act.points_max, minutes)
        if (att.minutes, att.points) != (minutes, expected):
            problems.append(f"attendance: wrote {(att.minutes, att.points)}, rules say {(minutes, expected)}")
    return problems


async def _fresh(owner: AsyncEngine, maker: Maker) -> World:
    await truncate(owner)
    ledger._accounts.clear()
    async with maker() as db:
        w = await populate(db)
        await db.commit()
    return w


async def run(engine: AsyncEngine, maker: Maker, scenario: Scenario) -> tuple[dict[str, Any], list[str]]:
    w = await _fresh(engine, maker)
    clock.set_now(T0)
    try:
        await scenario(maker, w)
    finally:
        clock.reset()
    return await snapshot(maker, w), await python_rules(maker, w)


def differences(pg: tuple[dict[str, Any], list[str]], lite: tuple[dict[str, Any], list[str]]) -> list[str]:
    out = [f"postgres {p}" for p in pg[1]] + [f"sqlite {p}" for p in lite[1]]
    for table in pg[0]:
        if pg[0][table] != lite[0][table]:
            out.append(f"{table}: postgres {pg[0][table]} != sqlite {lite[0][table]}")
    return out


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('parity') / 'parity.db'}"
    in_thread(upgrade_database, url)
    return url


@pytest.fixture
async def lite(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    yield engine, create_session_maker(engine)
    await engine.dispose()


@pytest.fixture
def pg(clean: AsyncEngine, owner_engine: AsyncEngine, maker: Maker) -> tuple[AsyncEngine, Maker]:
    """The owner's engine (to empty the tables between runs) and the app's sessions (the run itself)."""
    return owner_engine, maker


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_three_copies_write_the_same_rows(name: str, pg: Any, lite: Any) -> None:
    on_pg = await run(*pg, SCENARIOS[name])
    on_lite = await run(*lite, SCENARIOS[name])
    assert on_pg[0]["transfers"], "the scenario wrote nothing"
    assert differences(on_pg, on_lite) == []


def test_every_scenario_kind_of_the_issue_is_in_the_table() -> None:
    assert set(SCENARIOS) >= {
        "award", "spend_across_lots", "hold_post_void", "expiry", "check_out_per_hour",
        "redemption_and_order", "budget", "claims",
    }  # fmt: skip


@pytest.fixture
async def altered_sql(owner_engine: AsyncEngine) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Replace one SQL function on the PostgreSQL test database (as its owner); the files are installed
    again after."""

    async def alter(sql: str) -> None:
        async with owner_engine.begin() as conn:
            await conn.exec_driver_sql(sql)

    yield alter
    async with owner_engine.begin() as conn:
        await conn.run_sync(dbcode.drop)
        await conn.run_sync(dbcode.install)


def _claim_batch_altered(old: str, new: str) -> str:
    """``store_claim_batch`` as installed, with one rule changed."""
    source = (Path(store.__file__).parent / "sql" / "batches.sql").read_text()
    body = source[source.index("CREATE OR REPLACE FUNCTION store_claim_batch(") :]
    assert body.count(old) == 1
    return body.replace(old, new)


ALTERED_SQL = {
    # rounding up instead of down: the PostgreSQL copy of rules.points_for changed alone
    "check_out_per_hour": """CREATE OR REPLACE FUNCTION activity_points(
    p_mode text, p_rate int, p_max int, p_minutes int) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT greatest(0, least(CASE WHEN p_mode = 'per_attendance' THEN p_rate::bigint
        ELSE (p_rate::bigint * p_minutes + 59) / 60 END, coalesce(p_max::bigint, 9223372036854775807)))
$$""",
    # the content hash without the memo: the PostgreSQL copy of rules.content_hash changed alone
    "redemption_and_order": """CREATE OR REPLACE FUNCTION ledger_content_hash(
    p_op text, p_debit uuid, p_credit uuid, p_points bigint, p_code text, p_memo text,
    p_ref_type text, p_ref_id text, p_extra text DEFAULT '') RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(p_op || p_code || p_points::text, 'UTF8')), 'hex')
$$""",
    # the voucher's hold memo joined by a dash: the PostgreSQL copy of claim_voucher's memo changed alone
    "claims": _claim_batch_altered("r.partner_name || ': ' || r.title", "r.partner_name || ' - ' || r.title"),
}


@pytest.mark.parametrize("name", list(ALTERED_SQL))
async def test_parity_fails_when_the_postgres_copy_changes_alone(
    name: str, pg: Any, lite: Any, altered_sql: Callable[[str], Awaitable[None]]
) -> None:
    await altered_sql(ALTERED_SQL[name])
    on_pg = await run(*pg, SCENARIOS[name])
    on_lite = await run(*lite, SCENARIOS[name])
    assert differences(on_pg, on_lite) != []


async def test_parity_fails_when_the_sqlite_copy_changes_alone(
    pg: Any, lite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ledger._sqlite_expiry
    monkeypatch.setattr(
        ledger, "_sqlite_expiry", lambda sq, c, now: (lambda e: e and e + timedelta(days=1))(real(sq, c, now))
    )
    on_pg = await run(*pg, SCENARIOS["spend_across_lots"])
    on_lite = await run(*lite, SCENARIOS["spend_across_lots"])
    assert any(d.startswith(("lots", "entries")) for d in differences(on_pg, on_lite))


async def test_parity_fails_when_the_sqlite_claim_path_changes_alone(
    pg: Any, lite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ordinary claim path (SQLite's, and PostgreSQL's refusals) holds for a day longer: only the
    batch's holds keep the rule, so the comparison fails."""
    real = points.hold

    async def longer(db: AsyncSession, **kw: Any) -> Any:
        return await real(db, **{**kw, "expires_at": kw["expires_at"] + timedelta(days=1)})

    monkeypatch.setattr(points, "hold", longer)
    on_pg = await run(*pg, SCENARIOS["claims"])
    on_lite = await run(*lite, SCENARIOS["claims"])
    assert any(d.startswith("holds") for d in differences(on_pg, on_lite))


async def test_claims_on_postgres_are_the_batch_s(pg: Any) -> None:
    """What the claims scenario compares on PostgreSQL is the batch: four of its five vouchers came from
    ``store_claim_batch``; the first (the shop's account in the community is made on it) and the six
    refusals from the ordinary path after the batch wrote nothing."""
    before = dict(fastpath.STATS)
    await run(*pg, SCENARIOS["claims"])
    assert fastpath.STATS["claimed"] - before["claimed"] == 4
    assert fastpath.STATS["slow"] - before["slow"] == 7


async def test_parity_fails_when_the_python_rules_change_alone(
    pg: Any, lite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rules.entry_hash
    # the chain step counting from 2: every hash the SQL functions write no longer verifies
    monkeypatch.setattr(rules, "entry_hash", lambda prev, **kw: real(prev, **{**kw, "seq": kw["seq"] + 1}))
    on_pg = await run(*pg, SCENARIOS["check_out_per_hour"])
    on_lite = await run(*lite, SCENARIOS["check_out_per_hour"])
    assert any("verify" in d for d in differences(on_pg, on_lite))


async def test_the_database_code_installed_is_the_files(clean: AsyncEngine) -> None:
    """The functions the PostgreSQL test database runs are the ones the files define."""
    async with clean.connect() as conn:
        installed = await conn.run_sync(dbcode.installed)
        names = set(
            (
                await conn.execute(
                    text("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
                )
            ).scalars()
        )
    assert {k: v for k, v in installed.items() if k != dbcode.CATALOG} == {
        s.path: s.digest() for s in dbcode.SOURCES if s.dialect == "postgresql"
    }
    assert {
        "ledger_post",
        "ledger_write",
        "jifen_scan_batch",
        "store_redeem_batch",
        "store_reserve_batch",
        "store_claim_batch",
    } <= names
    assert not names & {"store_redeem_voucher", "store_reserve_order", "jifen_crc32"}
