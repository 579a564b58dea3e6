"""The ledger's service API: the only way any domain moves points.

Every function runs inside the caller's transaction (the session passed in) and never commits; a
refused request raises a DomainError before writing anything, so nothing changes. Locks are always
taken in the same order (hold rows, then accounts by id) so concurrent writers cannot deadlock; on
SQLite every transaction is already serialized by ``BEGIN IMMEDIATE``. The ledger comes last in the
application's lock order (see ``service/retry.py``): callers lock their own rows (products, offers,
orders, vouchers) before calling in here. Accounts are locked ``FOR NO KEY UPDATE``: inserting an
entry or a hold that merely references an account then never waits for that account's lock.

Idempotency: a key is unique per community. The key is checked before the accounts are locked, again
after, and the row is inserted with ``ON CONFLICT DO NOTHING``, so two identical requests racing on
PostgreSQL produce one transfer (the second waits on the unique index and then replays the first).
"""

from __future__ import annotations

import logging
import re
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.accounts import households as household_history
from service.accounts import views as people
from service.accounts.actor import Actor
from service.accounts.proposals import Proposed, gate
from service.accounts.service import require_role
from service.audit.service import record
from service.config import POINTS_PER_AWARD_MAX
from service.db import is_postgres
from service.errors import DomainError, raises
from service.ids import new_id
from service.kit.observe import count_points_on_commit
from service.points import ledger, rules
from service.points.errors import (
    AlreadyReversed,
    ApproverConflict,
    AwardNotFound,
    AwardNotPending,
    CommunityNotFound,
    HoldNotFound,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidBudget,
    InvalidExpiry,
    InvalidExpiryMode,
    InvalidExpiryValue,
    InvalidIdempotencyKey,
    InvalidMemo,
    InvalidPayee,
    InvalidPoints,
    InvalidReason,
    InvalidReasonCode,
    InvalidRef,
    InvalidThreshold,
    MemberNotFound,
    NotReversible,
    OverBudget,
    PartnerNotFound,
    SameAccount,
    SameAdmin,
    TransferNotFound,
)
from service.points.models import (
    CODE_MAX,
    IDEMPOTENCY_KEY_MAX,
    MEMO_MAX,
    REF_ID_MAX,
    REF_TYPE_MAX,
    Account,
    AwardRequest,
    Budget,
    Entry,
    Hold,
    IssuanceMonth,
    Lot,
    Owed,
    PendingIssuance,
    Policy,
    Transfer,
)
from service.points.views import (
    Balance,
    EntryView,
    balance,
    earned_leaderboard,
    entries,
    get_policy,
    list_awards,
)

__all__ = [
    "BUDGET_MONTHLY_MAX",
    "HOLD_LIFETIME_MAX",
    "KNOB_POLICY",
    "RELEASE_BATCH",
    # The read side lives in views.py; these stay importable from here for other domains' callers.
    "AwardResult",
    "Balance",
    "EntryView",
    "HoldResult",
    "TransferResult",
    "VerifyReport",
    "account_for",
    "apply_policy",
    "approve_award",
    "award",
    "balance",
    "earned_leaderboard",
    "entries",
    "expire_points",
    "get_policy",
    "hold",
    "issuance_shards",
    "list_awards",
    "lock_holds",
    "post_hold",
    "reject_award",
    "release_pending",
    "request_award",
    "reverse",
    "reverse_as_admin",
    "set_budget",
    "set_policy",
    "spend",
    "sweep_holds",
    "transfer",
    "transfers_for_ref",
    "verify",
    "verify_as_admin",
    "void_hold",
]

log = logging.getLogger("jifen.points")

HOLD_LIFETIME_MAX = timedelta(days=366)
"""The longest a hold may reserve points."""
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
PAYEES = ("store", "partner")
ISSUANCE_SHARDS = 8
"""Issuance accounts per community; awards pick one at random so they rarely wait on each other."""
BUDGET_MONTHLY_MAX = 100_000_000
"""The largest monthly issuance budget an official may set for one community."""
RELEASE_BATCH = 200
"""Pending issuances one run of the release job posts per transaction."""


@dataclass(frozen=True)
class TransferResult:
    transfer_id: uuid.UUID
    points: int
    replayed: bool = False
    """True when the idempotency key matched an earlier transfer and nothing new was written."""


@dataclass(frozen=True)
class Deducted:
    """What a deduction did: ``taken`` now (in ``transfer_id``), ``owed`` from later earnings."""

    transfer_id: uuid.UUID | None
    taken: int
    owed: int


@dataclass(frozen=True)
class AwardResult:
    """An award: posted (``transfer_id``), or pending because the month's budget is spent
    (``pending_id``: it posts when an official raises the budget or the month turns)."""

    transfer_id: uuid.UUID | None
    points: int
    replayed: bool = False
    pending_id: uuid.UUID | None = None

    @property
    def pending(self) -> bool:
        return self.transfer_id is None


@dataclass(frozen=True)
class HoldResult:
    hold_id: uuid.UUID
    points: int
    expires_at: datetime
    replayed: bool = False


# ---------------------------------------------------------------- validation


def _check_points(points: int) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= POINTS_PER_AWARD_MAX:
        raise InvalidPoints(
            params={"max": POINTS_PER_AWARD_MAX},
            errors=[{"field": "points", "message": "1-%(max)s"}],
        )
    return points


def _check_text(
    code: str, memo: str, ref_type: str | None, ref_id: str | None, key: str | None
) -> tuple[str, str, str | None, str | None, str | None]:
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise InvalidReasonCode(params={"max": CODE_MAX})
    memo = (memo or "").strip()
    if len(memo) > MEMO_MAX:
        raise InvalidMemo(
            params={"max": MEMO_MAX},
            errors=[{"field": "memo", "message": "at most %(max)s characters"}],
        )
    if (ref_type is not None and not 1 <= len(ref_type) <= REF_TYPE_MAX) or (
        ref_id is not None and not 1 <= len(ref_id) <= REF_ID_MAX
    ):
        raise InvalidRef()
    if key is not None:
        key = key.strip()
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
            raise InvalidIdempotencyKey(params={"max": IDEMPOTENCY_KEY_MAX})
    return code, memo, ref_type, ref_id, key


def _refuse(status: str, available: int, points: int) -> None:
    """The one mapping of the posting engine's refusals to errors (transfers and holds alike).

    ``key_conflict``: the idempotency key was used with other content; ``insufficient``: the member has
    ``available`` points, fewer than ``points``. Other statuses pass (the caller handles them).
    """
    if status == "key_conflict":
        raise IdempotencyConflict()
    if status == "insufficient":
        raise InsufficientPoints(params={"available": available, "needed": points})


# ---------------------------------------------------------------- accounts


def _insert(db: AsyncSession) -> Any:
    return pg_insert if is_postgres(db) else sqlite_insert


async def _find_account(
    db: AsyncSession,
    community_id: uuid.UUID,
    kind: str,
    member_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    shard: int = 0,
) -> Account | None:
    owner = rules.owner_key(kind, member_id, partner_id, shard)
    result: Account | None = await db.scalar(
        select(Account)
        .where(Account.community_id == community_id, Account.owner_key == owner)
        .execution_options(populate_existing=True)
    )
    return result


@raises(MemberNotFound, PartnerNotFound, CommunityNotFound)
async def account_for(
    db: AsyncSession,
    community_id: uuid.UUID,
    kind: str,
    member_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    shard: int = 0,
) -> Account:
    """The account (created on first use; race-safe) of a member, a partner or a system account.

    ``shard`` selects one of the community's issuance accounts (see ``ISSUANCE_SHARDS``).
    """
    found = await _find_account(db, community_id, kind, member_id, partner_id, shard)
    if found is not None:
        return found
    if kind == "member":
        if member_id is None or not await people.is_member(db, member_id, community_id):
            raise MemberNotFound()
    elif kind == "partner":
        if partner_id is None or not await people.partner_serves(db, partner_id, community_id):
            raise PartnerNotFound()
    elif not await people.community_exists(db, community_id):
        raise CommunityNotFound()
    values = {
        "id": new_id(),
        "community_id": community_id,
        "kind": kind,
        "owner_key": rules.owner_key(kind, member_id, partner_id, shard),
        "member_id": member_id,
        "partner_id": partner_id,
        "balance": 0,
        "held": 0,
        "earned": 0,
        "spent": 0,
        "expired": 0,
        "last_hash": "",
        "entry_count": 0,
        "version": 0,
        "created_at": clock.now(),
    }
    await db.execute(_insert(db)(Account).values(**values).on_conflict_do_nothing())
    created = await _find_account(db, community_id, kind, member_id, partner_id, shard)
    if created is None:  # impossible: we just inserted it or someone else did
        raise RuntimeError("ledger account vanished after insert")
    return created


@raises(account_for)
async def issuance_shards(db: AsyncSession, community_id: uuid.UUID) -> None:
    """Every issuance shard of the community exists (created on first use; race-safe). A batch of
    check-outs (``jifen_scan_batch``) posts from whichever shard no other batch holds."""
    for shard in range(ISSUANCE_SHARDS):
        await account_for(db, community_id, "issuance", shard=shard)


async def _lock(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Account]:
    """Lock accounts in id order (one total order for every writer: no deadlocks) and reload them."""
    rows = await db.scalars(
        select(Account)
        .where(Account.id.in_(sorted(set(ids))))
        .order_by(Account.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE (lock order: see service/retry.py)
        .execution_options(populate_existing=True)
    )
    return {a.id: a for a in rows}


async def _expiry_for(db: AsyncSession, community_id: uuid.UUID, now: datetime) -> datetime | None:
    policy = await get_policy(db, community_id)
    if policy.expiry_mode == "never":
        return None
    zone = ZoneInfo(await people.community_timezone(db, community_id))
    return rules.expiry_for(now, policy.expiry_mode, policy.expiry_value, zone)


# ---------------------------------------------------------------- writing a transfer


def _count(member: Account, other: Account, points: int) -> None:
    """Keep earned/spent/expired of a member account so that balance = earned - spent - expired."""
    column, delta = rules.member_total(other.kind, points)
    setattr(member, column, getattr(member, column) + delta)


async def _consume_lots(
    db: AsyncSession, account: Account, points: int, lots: list[Lot] | None = None
) -> None:
    if lots is None:
        lots = list(
            await db.scalars(
                select(Lot)
                .where(Lot.account_id == account.id, Lot.remaining > 0)
                .execution_options(populate_existing=True)
            )
        )
    take = rules.allocate([(lot.remaining, lot.expires_at, lot.id) for lot in lots], points)
    for lot, amount in zip(lots, take, strict=True):
        lot.remaining -= amount


def _chain(
    account: Account,
    community_id: uuid.UUID,
    transfer_id: uuid.UUID,
    points: int,
    expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """The next entry of a locked account's hash chain; moves the account's cached head and balance."""
    entry_id = new_id()
    seq = account.entry_count + 1
    prev = account.last_hash or rules.GENESIS_HASH
    digest = rules.entry_hash(
        prev,
        entry_id=entry_id,
        community_id=community_id,
        transfer_id=transfer_id,
        account_id=account.id,
        points=points,
        seq=seq,
        expires_at=expires_at,
        created_at=now,
    )
    account.entry_count, account.last_hash = seq, digest
    account.balance += points
    account.version += 1
    return {
        "id": entry_id,
        "community_id": community_id,
        "transfer_id": transfer_id,
        "account_id": account.id,
        "points": points,
        "seq": seq,
        "prev_hash": prev,
        "hash": digest,
        "expires_at": expires_at,
        "created_at": now,
    }


async def _write(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    legs: list[tuple[Account, int]],
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str | None,
    chash: str,
    reverses_id: uuid.UUID | None = None,
    lots: list[Lot] | None = None,
) -> uuid.UUID | None:
    """Insert the transfer and its chained entries; update the locked accounts. ``None``: key taken."""
    if sum(p for _, p in legs) != 0 or any(p == 0 for _, p in legs):
        raise RuntimeError("a transfer's legs must be non-zero and sum to zero")
    now = clock.now()
    transfer_id = new_id()
    points = sum(p for _, p in legs if p > 0)
    if len(legs) == 2:
        (first, first_pts), (second, _) = legs
        debit, credit = (first, second) if first_pts < 0 else (second, first)
        await _count_issuance(db, community_id, rules.budget_delta(debit.kind, credit.kind, points), now)
    row = {
        "id": transfer_id,
        "community_id": community_id,
        "points": points,
        "code": code,
        "memo": memo,
        "ref_type": ref_type,
        "ref_id": ref_id,
        "actor_id": actor_id,
        "idempotency_key": key,
        "content_hash": chash,
        "reverses_id": reverses_id,
        "created_at": now,
    }
    stmt = _insert(db)(Transfer).values(**row)
    if key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["community_id", "idempotency_key"])
    inserted = (await db.execute(stmt.returning(Transfer.id))).scalar_one_or_none()
    if inserted is None:
        return None
    expires_at: datetime | None = None
    if any(a.kind == "member" and p > 0 for a, p in legs):
        expires_at = await _expiry_for(db, community_id, now)
    entries: list[dict[str, Any]] = []
    new_lots: list[dict[str, Any]] = []
    for account, pts in legs:
        if account.kind == "member" and pts < 0:
            await _consume_lots(db, account, -pts, lots)
        entry_expiry = expires_at if account.kind == "member" and pts > 0 else None
        entry = _chain(account, community_id, transfer_id, pts, entry_expiry, now)
        entries.append(entry)
        if account.kind == "member" and pts > 0:
            new_lots.append(
                {
                    "id": new_id(),
                    "community_id": community_id,
                    "account_id": account.id,
                    "entry_id": entry["id"],
                    "points": pts,
                    "remaining": pts,
                    "expires_at": entry_expiry,
                }
            )
        if account.kind == "member":
            other = next(a for a, p in legs if (p > 0) != (pts > 0))
            _count(account, other, pts)
    await db.execute(insert(Entry), entries)
    if new_lots:
        await db.execute(insert(Lot), new_lots)
    await db.flush()
    return transfer_id


async def _count_issuance(db: AsyncSession, community_id: uuid.UUID, delta: int, now: datetime) -> None:
    """The issuance budget for the ORM path (as step 5 of ``ledger_write`` and ``ledger._budget_sqlite``):
    count ``delta`` for the community's local month or raise ``OverBudget`` (before anything is written)."""
    if delta == 0:
        return
    month = rules.budget_month(now, await people.community_timezone(db, community_id))
    budget = await db.scalar(select(Budget.monthly_points).where(Budget.community_id == community_id))
    issued = await db.scalar(
        select(IssuanceMonth.issued)
        .where(IssuanceMonth.community_id == community_id, IssuanceMonth.month == month)
        .with_for_update()
    )
    if issued is None and delta < 0:
        return
    after = rules.budget_issued(issued or 0, delta, budget)
    if after is None:
        raise OverBudget()
    stmt = _insert(db)(IssuanceMonth).values(community_id=community_id, month=month, issued=after)
    await db.execute(
        stmt.on_conflict_do_update(index_elements=["community_id", "month"], set_={"issued": after})
    )


@dataclass(frozen=True)
class _Ref:
    """Which account a leg names, resolved to an id through the engine's per-process cache."""

    kind: str
    member_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    shard: int = 0
    create: bool = True
    """Create the account on first use (else ``None`` when it does not exist yet)."""


async def _resolve(
    db: AsyncSession, community_id: uuid.UUID, ref: _Ref | uuid.UUID, *, cached: bool
) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    owner = rules.owner_key(ref.kind, ref.member_id, ref.partner_id, ref.shard)
    if cached and (known := ledger.known_account(community_id, owner)) is not None:
        return known
    if ref.create:
        account: Account | None = await account_for(
            db, community_id, ref.kind, ref.member_id, ref.partner_id, ref.shard
        )
    else:
        account = await _find_account(db, community_id, ref.kind, ref.member_id, ref.partner_id, ref.shard)
    if account is None:
        return None
    ledger.remember_account(community_id, owner, account.id)
    return account.id


def _forget(community_id: uuid.UUID, *refs: _Ref | uuid.UUID) -> None:
    for ref in refs:
        if isinstance(ref, _Ref):
            owner = rules.owner_key(ref.kind, ref.member_id, ref.partner_id, ref.shard)
            ledger.forget_account(community_id, owner)


async def _engine(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    debit: _Ref | uuid.UUID,
    credit: _Ref | uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str | None,
    reverses_id: uuid.UUID | None = None,
) -> ledger.Posted:
    """One round trip to the posting engine (``ledger.post``) once the account ids are known; a cached id
    the database does not know (its creating transaction rolled back) is resolved again, once."""
    for cached in (True, False):
        debit_id, credit_id = await _pair(db, community_id, debit, credit, points, cached=cached)
        chash = rules.content_hash(
            "transfer",
            legs=[(debit_id, -points), (credit_id, points)],
            code=code,
            memo=memo,
            ref_type=ref_type,
            ref_id=ref_id,
        )
        done = await ledger.post(
            db,
            community_id=community_id,
            debit_id=debit_id,
            credit_id=credit_id,
            points=points,
            code=code,
            memo=memo,
            ref_type=ref_type,
            ref_id=ref_id,
            actor_id=actor_id,
            key=key,
            chash=chash,
            now=clock.now(),
            reverses_id=reverses_id,
        )
        if done.status == "missing":
            _forget(community_id, debit, credit)
            continue
        if done.status == "ok":
            _metered(db, community_id, debit, credit, points)
        return done
    raise RuntimeError("ledger accounts not found after resolving them")


def _metered(
    db: AsyncSession, community_id: uuid.UUID, debit: _Ref | uuid.UUID, credit: _Ref | uuid.UUID, points: int
) -> None:
    """Points issued (from the issuance account) or spent (to the store or a shop), counted for the
    operators' metrics when the transaction commits."""
    if isinstance(debit, _Ref) and debit.kind == "issuance":
        count_points_on_commit(db.sync_session, community_id, issued=points)
    elif isinstance(credit, _Ref) and credit.kind in SPENT_KINDS:
        count_points_on_commit(db.sync_session, community_id, spent=points)


SPENT_KINDS = frozenset({"store", "partner"})
"""Accounts whose credit is a member's spending."""


async def _move(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    debit: _Ref | uuid.UUID,
    credit: _Ref | uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str | None,
    reverses_id: uuid.UUID | None = None,
) -> TransferResult:
    """Move ``points`` from ``debit`` to ``credit`` once per key, refusing to overdraw a member (a move
    that is no issuance never meets the budget: :func:`award` posts issuances)."""
    done = await _engine(
        db, community_id=community_id, debit=debit, credit=credit, points=points, code=code, memo=memo,
        ref_type=ref_type, ref_id=ref_id, actor_id=actor_id, key=key, reverses_id=reverses_id,
    )  # fmt: skip
    return _posted(done, points)


async def _pair(
    db: AsyncSession,
    community_id: uuid.UUID,
    source: _Ref | uuid.UUID,
    target: _Ref | uuid.UUID,
    points: int,
    *,
    cached: bool,
) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids of the account points leave and the one they reach; the target is created if needed,
    and a source without an account (a member who never had points) has nothing to give."""
    target_id = await _resolve(db, community_id, target, cached=cached)
    source_id = await _resolve(db, community_id, source, cached=cached)
    if source_id is None:
        raise InsufficientPoints(params={"available": 0, "needed": points})
    if target_id is None:
        raise RuntimeError("a credited account is always created")
    return source_id, target_id


def _posted(done: ledger.Posted, points: int) -> TransferResult:
    _refuse(done.status, done.available, points)
    if done.transfer_id is None or done.status not in ("ok", "replayed"):
        raise RuntimeError(f"posting engine answered {done.status}")
    return TransferResult(done.transfer_id, done.points, replayed=done.status == "replayed")


# ---------------------------------------------------------------- the contract


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def award(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str,
) -> AwardResult:
    """Issue ``points`` (> 0) from the community's issuance account to the member's account.

    ``code`` is the reason code shown in the member's history (e.g. "checkin", "claim", "wish",
    "manual_award"); ``idempotency_key`` is unique per community: the same key with the same content
    returns the first result (``replayed=True``), with other content raises ``idempotency_conflict``.
    Beyond the community's issuance budget for the month (``ledger_write``) nothing posts: the award
    waits as a pending issuance under the same key (``pending``) until :func:`release_pending` posts it.
    """
    _check_points(points)
    code, memo, ref_type, ref_id, key = _check_text(code, memo, ref_type, ref_id, idempotency_key)
    if key is None:
        raise InvalidIdempotencyKey(params={"max": IDEMPOTENCY_KEY_MAX})
    try:
        done = await _issue(db, community_id, member_id, points, code, memo, ref_type, ref_id, actor_id, key)
    except OverBudget:
        return await _wait(db, community_id, member_id, points, code, memo, ref_type, ref_id, actor_id, key)
    if not done.replayed and await _owes(db, community_id, member_id):
        await collect_owed(db, community_id, member_id)  # a deduction waited for these earnings
    return AwardResult(done.transfer_id, done.points, replayed=done.replayed)


async def _owes(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> bool:
    found = await db.scalar(
        select(Owed.id)
        .where(Owed.community_id == community_id, Owed.member_id == member_id, Owed.remaining > 0)
        .limit(1)
    )
    return found is not None


async def _issue(
    db: AsyncSession,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str,
) -> TransferResult:
    # Awards lock the issuance account; spreading them over a few shards keeps a clean-up day's
    # thousands of simultaneous check-ins from queueing on one row. The shard follows from the key,
    # so a retry names the same accounts and replays instead of conflicting.
    shard = zlib.crc32(key.encode()) % ISSUANCE_SHARDS
    done = await _engine(
        db,
        community_id=community_id,
        debit=_Ref("issuance", shard=shard),
        credit=_Ref("member", member_id),
        points=points,
        code=code,
        memo=memo,
        ref_type=ref_type,
        ref_id=ref_id,
        actor_id=actor_id,
        key=key,
    )
    if done.status == "over_budget":
        raise OverBudget()
    return _posted(done, points)


async def _wait(
    db: AsyncSession,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
    key: str,
) -> AwardResult:
    """The award as a pending issuance (once per key; the same key with other content conflicts)."""
    row = {
        "id": new_id(),
        "community_id": community_id,
        "member_id": member_id,
        "points": points,
        "code": code,
        "memo": memo,
        "ref_type": ref_type,
        "ref_id": ref_id,
        "actor_id": actor_id,
        "idempotency_key": key,
        "posted_at": None,
        "transfer_id": None,
        "created_at": clock.now(),
    }
    await db.execute(
        _insert(db)(PendingIssuance)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["community_id", "idempotency_key"])
    )
    found = await db.scalar(
        select(PendingIssuance)
        .where(PendingIssuance.community_id == community_id, PendingIssuance.idempotency_key == key)
        .execution_options(populate_existing=True)
    )
    if found is None:  # impossible: we just inserted it or someone else did
        raise RuntimeError("pending issuance vanished after insert")
    if (found.member_id, found.points, found.code, found.memo) != (member_id, points, code, memo):
        raise IdempotencyConflict()
    return AwardResult(found.transfer_id, points, replayed=found.id != row["id"], pending_id=found.id)


async def release_pending(
    db: AsyncSession, *, community_id: uuid.UUID | None = None, limit: int = RELEASE_BATCH
) -> int:
    """Post pending issuances oldest first while the budget allows (after an official raised it, or in
    a new month); a community whose budget is spent again keeps the rest waiting. Returns how many posted.

    The rows are locked ``SKIP LOCKED`` (several workers may run it); each posts under its own key, so a
    pending award that also posted another way (a retry) is replayed, not paid twice."""
    query = select(PendingIssuance).where(PendingIssuance.posted_at.is_(None))
    if community_id is not None:
        query = query.where(PendingIssuance.community_id == community_id)
    rows = list(
        await db.scalars(
            query.order_by(PendingIssuance.created_at, PendingIssuance.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    spent: set[uuid.UUID] = set()
    posted = 0
    for row in rows:
        if row.community_id in spent:
            continue
        try:
            done = await _issue(
                db, row.community_id, row.member_id, row.points, row.code, row.memo, row.ref_type,
                row.ref_id, row.actor_id, row.idempotency_key,
            )  # fmt: skip
        except OverBudget:
            spent.add(row.community_id)  # oldest first: the younger ones of this community wait too
            continue
        except DomainError as exc:  # e.g. the member left the community meanwhile: it stays pending
            log.warning("pending issuance %s not posted: %s", row.id, exc.code)
            continue
        row.posted_at, row.transfer_id = clock.now(), done.transfer_id
        posted += 1
    await db.flush()
    return posted


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def deduct(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str = "deduction",
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Deducted:
    """Take ``points`` from the member back to the community (扣分, a village rule broken), never below
    zero: what is available now posts at once (member -> issuance, so the month's issued count goes down as
    for a reversal); the rest is owed (:class:`Owed`) and taken from later earnings (:func:`collect_owed`).
    Call once per deduction (the caller's state, e.g. a claim's status, guards against a second call).
    """
    _check_points(points)
    code, memo, ref_type, ref_id, _ = _check_text(code, memo, ref_type, ref_id, None)
    if not await people.is_member(db, member_id, community_id):
        raise MemberNotFound()
    taken, transfer_id = await _take_available(
        db, community_id, member_id, points, code, memo, ref_type, ref_id, actor_id
    )
    owed = points - taken
    if owed:
        db.add(
            Owed(
                community_id=community_id,
                member_id=member_id,
                points=owed,
                remaining=owed,
                code=code,
                memo=memo,
                ref_type=ref_type,
                ref_id=ref_id,
                created_at=clock.now(),
            )
        )
        await db.flush()
    return Deducted(transfer_id, taken, owed)


async def _take_available(
    db: AsyncSession,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    code: str,
    memo: str,
    ref_type: str | None,
    ref_id: str | None,
    actor_id: uuid.UUID | None,
) -> tuple[int, uuid.UUID | None]:
    """Post up to ``points`` of the member's available points to the community; (taken, transfer)."""
    member = await _find_account(db, community_id, "member", member_id)
    if member is None:
        return 0, None
    issuance = await account_for(db, community_id, "issuance")
    locked = await _lock(db, [member.id, issuance.id])  # both, in the one lock order
    available = locked[member.id].balance - locked[member.id].held
    taken = min(points, max(available, 0))
    if not taken:
        return 0, None
    done = await _move(
        db, community_id=community_id, debit=member.id, credit=issuance.id, points=taken, code=code,
        memo=memo, ref_type=ref_type, ref_id=ref_id, actor_id=actor_id, key=None,
    )  # fmt: skip
    return taken, done.transfer_id


@raises(InsufficientPoints, IdempotencyConflict, MemberNotFound, PartnerNotFound, CommunityNotFound)
async def collect_owed(db: AsyncSession, community_id: uuid.UUID, member_id: uuid.UUID) -> int:
    """Take what the member owes from what they have now, oldest deduction first; returns the points
    taken. The owed rows are locked ``SKIP LOCKED`` (another run is collecting them)."""
    rows = list(
        await db.scalars(
            select(Owed)
            .where(Owed.community_id == community_id, Owed.member_id == member_id, Owed.remaining > 0)
            .order_by(Owed.created_at, Owed.id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    total = 0
    for row in rows:
        taken, _ = await _take_available(
            db, community_id, member_id, row.remaining, row.code, row.memo, row.ref_type, row.ref_id, None
        )
        if not taken:
            break
        row.remaining -= taken
        row.settled_at = clock.now() if row.remaining == 0 else None
        total += taken
    await db.flush()
    return total


async def collect_all_owed(db: AsyncSession, *, limit: int = RELEASE_BATCH) -> int:
    """One batch of members who owe points and have some available now: take it (the periodic job);
    returns how many members were looked at (a short batch ends the job's run)."""
    pairs = (
        await db.execute(
            select(Owed.community_id, Owed.member_id)
            .join(
                Account,
                (Account.community_id == Owed.community_id)
                & (Account.member_id == Owed.member_id)
                & (Account.kind == "member"),
            )
            .where(Owed.remaining > 0, Account.balance - Account.held > 0)
            .group_by(Owed.community_id, Owed.member_id)
            .order_by(func.min(Owed.created_at))
            .limit(limit)
        )
    ).all()
    for community_id, member_id in pairs:
        await collect_owed(db, community_id, member_id)
    return len(pairs)


@raises(InvalidBudget)
async def set_budget(
    db: AsyncSession, community_id: uuid.UUID, monthly_points: int, *, set_by: uuid.UUID | None
) -> tuple[int | None, int]:
    """Set the community's monthly issuance budget (the caller checked who may); a raise posts what
    waits at once. Returns (the budget before, the budget now). Authorisation: ``regions.service``."""
    if (
        isinstance(monthly_points, bool)
        or not isinstance(monthly_points, int)
        or not (0 <= monthly_points <= BUDGET_MONTHLY_MAX)
    ):
        raise InvalidBudget(
            params={"max": BUDGET_MONTHLY_MAX},
            errors=[{"field": "monthly_points", "message": "0-%(max)s"}],
        )
    found = await db.scalar(
        select(Budget).where(Budget.community_id == community_id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    before = found.monthly_points if found is not None else None
    if found is None:
        db.add(Budget(community_id=community_id, monthly_points=monthly_points, set_by=set_by,
                      updated_at=clock.now()))  # fmt: skip
    else:
        found.monthly_points, found.set_by, found.updated_at = monthly_points, set_by, clock.now()
    await db.flush()
    if before is None or monthly_points > before:
        await release_pending(db, community_id=community_id)
    return before, monthly_points


def _payee(payee: str, payee_partner_id: uuid.UUID | None) -> _Ref:
    if payee not in PAYEES or (payee == "partner") != (payee_partner_id is not None):
        raise InvalidPayee()
    return _Ref(payee, partner_id=payee_partner_id)


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    InvalidPayee,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def spend(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    payee: str,
    payee_partner_id: uuid.UUID | None = None,
    code: str,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> TransferResult:
    """Move ``points`` from the member straight to the store or a partner (no hold).

    Raises ``insufficient_points`` (409) when available < points; nothing changes then.
    """
    _check_points(points)
    code, memo, ref_type, ref_id, key = _check_text(code, memo, ref_type, ref_id, idempotency_key)
    return await _move(
        db,
        community_id=community_id,
        debit=_Ref("member", member_id, create=False),
        credit=_payee(payee, payee_partner_id),
        points=points,
        code=code,
        memo=memo,
        ref_type=ref_type,
        ref_id=ref_id,
        actor_id=actor_id,
        key=key,
    )


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    SameAccount,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def transfer(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    from_member_id: uuid.UUID,
    to_member_id: uuid.UUID,
    points: int,
    code: str = "transfer",
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> TransferResult:
    """Move ``points`` from one member to another of the same community."""
    _check_points(points)
    code, memo, ref_type, ref_id, key = _check_text(code, memo, ref_type, ref_id, idempotency_key)
    if from_member_id == to_member_id:
        raise SameAccount()
    return await _move(
        db,
        community_id=community_id,
        debit=_Ref("member", from_member_id, create=False),
        credit=_Ref("member", to_member_id),
        points=points,
        code=code,
        memo=memo,
        ref_type=ref_type,
        ref_id=ref_id,
        actor_id=actor_id,
        key=key,
    )


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    TransferNotFound,
    NotReversible,
    AlreadyReversed,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def reverse(
    db: AsyncSession,
    transfer_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
    memo: str = "",
    community_id: uuid.UUID | None = None,
) -> TransferResult:
    """Post the mirror image of a transfer (a correction); each transfer can be reversed once.

    Raises ``transfer_not_found`` (404), ``already_reversed`` (409), ``not_reversible`` (409) for a
    reversal itself, and ``insufficient_points`` (409) when the member already spent the points.
    """
    _, memo, _, _, _ = _check_text("reversal", memo, None, None, None)
    original = await db.get(Transfer, transfer_id)
    if original is None or (community_id is not None and original.community_id != community_id):
        raise TransferNotFound()
    if original.reverses_id is not None:
        raise NotReversible()
    legs = list(
        await db.execute(select(Entry.account_id, Entry.points).where(Entry.transfer_id == transfer_id))
    )
    if len(legs) != 2:
        raise NotReversible(detail="Only two-sided transfers can be reversed.")
    (a_id, a_pts), (b_id, _) = legs
    debit_id, credit_id = (a_id, b_id) if a_pts > 0 else (b_id, a_id)
    await _lock(db, [debit_id, credit_id])
    done = await db.scalar(select(Transfer.id).where(Transfer.reverses_id == transfer_id))
    if done is not None:
        raise AlreadyReversed()
    return await _move(
        db,
        community_id=original.community_id,
        debit=debit_id,
        credit=credit_id,
        points=original.points,
        code="reversal",
        memo=memo or original.memo,
        ref_type="transfer",
        ref_id=str(transfer_id),
        actor_id=actor_id,
        key=None,
        reverses_id=transfer_id,
    )


async def transfers_for_ref(
    db: AsyncSession, community_id: uuid.UUID, ref_type: str, ref_id: str
) -> list[Transfer]:
    """Transfers carrying a reference (for other domains' reports and checks)."""
    rows = await db.scalars(
        select(Transfer)
        .where(
            Transfer.community_id == community_id, Transfer.ref_type == ref_type, Transfer.ref_id == ref_id
        )
        .order_by(Transfer.created_at)
    )
    return list(rows)


# ---------------------------------------------------------------- holds


@raises(
    InvalidPoints,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    InvalidExpiry,
    InvalidPayee,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def hold(
    db: AsyncSession,
    *,
    community_id: uuid.UUID,
    member_id: uuid.UUID,
    points: int,
    payee: str,
    payee_partner_id: uuid.UUID | None = None,
    expires_at: datetime,
    code: str,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    idempotency_key: str,
) -> HoldResult:
    """Reserve ``points`` of the member's available balance for a payee until ``expires_at``.

    ``payee`` is "store" (the community's points supermarket) or "partner" (with ``payee_partner_id``).
    Raises ``insufficient_points`` (409) when available < points; nothing changes then.
    """
    _check_points(points)
    code, memo, ref_type, ref_id, key = _check_text(code, memo, ref_type, ref_id, idempotency_key)
    now = clock.now()
    if expires_at.tzinfo is None or not now < expires_at <= now + HOLD_LIFETIME_MAX:
        raise InvalidExpiry()
    target, source = _payee(payee, payee_partner_id), _Ref("member", member_id, create=False)
    for cached in (True, False):
        source_id, target_id = await _pair(db, community_id, source, target, points, cached=cached)
        chash = rules.content_hash(
            "hold",
            legs=[(source_id, -points), (target_id, points)],
            code=code,
            memo=memo,
            ref_type=ref_type,
            ref_id=ref_id,
        )
        held = await ledger.hold(
            db,
            community_id=community_id,
            account_id=source_id,
            payee_id=target_id,
            points=points,
            expires_at=expires_at,
            code=code,
            memo=memo,
            ref_type=ref_type,
            ref_id=ref_id,
            actor_id=actor_id,
            key=cast(str, key),
            chash=chash,
            now=now,
        )
        if held.status == "missing":
            _forget(community_id, target, source)
            continue
        _refuse(held.status, held.available, points)
        if held.hold_id is None or held.expires_at is None:
            raise RuntimeError(f"posting engine answered {held.status}")
        return HoldResult(held.hold_id, held.points, held.expires_at, replayed=held.status == "replayed")
    raise RuntimeError("ledger accounts not found after resolving them")


async def lock_holds(db: AsyncSession, hold_ids: Sequence[uuid.UUID]) -> None:
    """Lock several holds (id order), then all their member accounts (id order), in one step each.

    For a caller about to void or post many holds in one transaction (a batch job): voiding them one
    by one would take hold, account, hold, account... and could deadlock with a writer holding the
    second account and waiting for the first.
    """
    if not hold_ids:
        return
    rows = await db.scalars(
        select(Hold.account_id)
        .where(Hold.id.in_(sorted(set(hold_ids))))
        .order_by(Hold.id)
        .with_for_update(key_share=True)
    )
    await _lock(db, list(rows))


async def _locked_hold(db: AsyncSession, hold_id: uuid.UUID) -> Hold:
    found = await db.scalar(
        select(Hold).where(Hold.id == hold_id).with_for_update().execution_options(populate_existing=True)
    )
    if found is None:
        raise HoldNotFound()
    return found


@raises(
    HoldNotFound,
    HoldNotPending,
    MemberNotFound,
    PartnerNotFound,
    CommunityNotFound,
    InsufficientPoints,
    IdempotencyConflict,
)
async def post_hold(
    db: AsyncSession, hold_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> TransferResult:
    """Move a pending hold's points to its payee, exactly once. Raises ``hold_not_pending`` (409).

    A hold past its expiry cannot be posted (the sweep is about to give the points back).
    """
    found = await _locked_hold(db, hold_id)
    if found.status != "pending":
        raise HoldNotPending(params={"status": found.status})
    if found.expires_at <= clock.now():
        raise HoldNotPending(detail="The hold has expired.")
    chash = rules.content_hash(
        "transfer",
        legs=[(found.account_id, -found.points), (found.payee_account_id, found.points)],
        code=found.code,
        memo=found.memo,
        ref_type=found.ref_type,
        ref_id=found.ref_id,
    )
    done = await ledger.post(
        db,
        community_id=found.community_id,
        debit_id=found.account_id,
        credit_id=found.payee_account_id,
        points=found.points,
        code=found.code,
        memo=found.memo,
        ref_type=found.ref_type,
        ref_id=found.ref_id,
        actor_id=actor_id,
        key=None,
        chash=chash,
        now=clock.now(),
        hold_id=found.id,
    )
    if done.status == "ok":  # a hold is always a member's spending at the store or a shop
        count_points_on_commit(db.sync_session, found.community_id, spent=found.points)
    return _posted(done, found.points)


@raises(HoldNotFound, HoldNotPending)
async def void_hold(
    db: AsyncSession, hold_id: uuid.UUID, *, actor_id: uuid.UUID | None = None, reason: str = ""
) -> None:
    """Release a pending hold back to the member's available balance. Raises ``hold_not_pending`` (409)."""
    outcome, status = await ledger.release(db, hold_id, "voided", reason[:MEMO_MAX], clock.now())
    if outcome == "not_found":
        raise HoldNotFound()
    if outcome == "not_pending":
        raise HoldNotPending(params={"status": status})


# ---------------------------------------------------------------- periodic work

SWEEP_BATCH = 200
"""Holds released per sweep transaction."""
EXPIRE_BATCH = 200
"""Member accounts handled per expiry transaction."""


async def sweep_holds(db: AsyncSession, *, limit: int = SWEEP_BATCH) -> int:
    """Release pending holds past their expiry (status ``expired``); returns how many."""
    found = list(
        await db.scalars(
            select(Hold)
            .where(Hold.status == "pending", Hold.expires_at <= clock.now())
            .order_by(Hold.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    if not found:
        return 0
    locked = await _lock(db, [h.account_id for h in found])
    now = clock.now()
    for h in found:
        account = locked[h.account_id]
        account.held -= h.points
        account.version += 1
        h.status, h.resolved_at, h.reason = "expired", now, "expired"
    await db.flush()
    return len(found)


async def expire_points(db: AsyncSession, *, limit: int = EXPIRE_BATCH) -> int:
    """Post expiry transfers for lots past their date; returns the points expired.

    Points reserved by a pending hold are left alone: if the hold is voided they expire next time.
    """
    now = clock.now()
    rows = (
        await db.execute(
            select(Lot.account_id, Account.community_id)
            .join(Account, Account.id == Lot.account_id)
            .where(Lot.expires_at <= now, Lot.remaining > 0, Account.balance - Account.held > 0)
            .distinct()
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    sinks = {cid: await account_for(db, cid, "expired") for cid in {r.community_id for r in rows}}
    locked = await _lock(db, [r.account_id for r in rows] + [s.id for s in sinks.values()])
    total = 0
    for account_id, community_id in rows:
        account, sink = locked[account_id], locked[sinks[community_id].id]
        lots = list(
            await db.scalars(
                select(Lot)
                .where(Lot.account_id == account_id, Lot.expires_at <= now, Lot.remaining > 0)
                .execution_options(populate_existing=True)
            )
        )
        amount = min(sum(lot.remaining for lot in lots), account.balance - account.held)
        if amount <= 0:
            continue
        legs = [(account, -amount), (sink, amount)]
        chash = rules.content_hash(
            "transfer", legs=[(a.id, p) for a, p in legs], code="expiry", memo="", ref_type=None, ref_id=None
        )
        await _write(
            db,
            community_id=community_id,
            legs=legs,
            code="expiry",
            memo="",
            ref_type=None,
            ref_id=None,
            actor_id=None,
            key=None,
            chash=chash,
            lots=lots,
        )
        total += amount
    return total


# ---------------------------------------------------------------- verification

VERIFY_PROBLEMS_MAX = 1000
"""A verify report lists at most this many problems (the count of the rest is still reported)."""


@dataclass
class VerifyReport:
    community_id: uuid.UUID
    ok: bool = True
    accounts_checked: int = 0
    entries_checked: int = 0
    transfers_checked: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    problems_total: int = 0

    def add(self, code: str, detail: str, **ids: uuid.UUID | None) -> None:
        self.ok = False
        self.problems_total += 1
        if len(self.problems) < VERIFY_PROBLEMS_MAX:
            item = {"code": code, "detail": detail}
            item.update({k: str(v) for k, v in ids.items() if v is not None})
            self.problems.append(item)


async def verify(db: AsyncSession, community_id: uuid.UUID) -> VerifyReport:
    """Recompute every hash chain, zero sum, cached balance and hold of a community's ledger."""
    report = VerifyReport(community_id)
    accounts = {
        a.id: a for a in await db.scalars(select(Account).where(Account.community_id == community_id))
    }
    report.accounts_checked = len(accounts)
    legs: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {}
    sums: dict[uuid.UUID, int] = {}
    state: dict[uuid.UUID, tuple[int, str]] = {}
    stream = await db.stream(
        select(Entry).where(Entry.community_id == community_id).order_by(Entry.account_id, Entry.seq),
        execution_options={"yield_per": 2000},
    )
    async for e in stream.scalars():
        report.entries_checked += 1
        seq, prev = state.get(e.account_id, (0, rules.GENESIS_HASH))
        if e.seq != seq + 1 or e.prev_hash != prev:
            report.add(
                "chain_broken", f"entry {e.seq} does not follow {seq}", entry_id=e.id, account_id=e.account_id
            )
        expected = rules.entry_hash(
            e.prev_hash,
            entry_id=e.id,
            community_id=e.community_id,
            transfer_id=e.transfer_id,
            account_id=e.account_id,
            points=e.points,
            seq=e.seq,
            expires_at=e.expires_at,
            created_at=e.created_at,
        )
        if expected != e.hash:
            report.add("entry_hash_mismatch", "entry was changed after it was written", entry_id=e.id)
        state[e.account_id] = (e.seq, e.hash)
        sums[e.account_id] = sums.get(e.account_id, 0) + e.points
        legs.setdefault(e.transfer_id, []).append((e.account_id, e.points))
    await _verify_accounts(db, report, accounts, sums, state)
    await _verify_transfers(db, report, legs)
    if sum(sums.values()) != 0:
        report.add("community_not_balanced", f"entries sum to {sum(sums.values())}, not 0")
    return report


async def _verify_accounts(
    db: AsyncSession,
    report: VerifyReport,
    accounts: dict[uuid.UUID, Account],
    sums: dict[uuid.UUID, int],
    state: dict[uuid.UUID, tuple[int, str]],
) -> None:
    held: dict[uuid.UUID, int] = {
        k: int(v or 0)
        for k, v in (
            await db.execute(
                select(Hold.account_id, func.sum(Hold.points))
                .where(Hold.community_id == report.community_id, Hold.status == "pending")
                .group_by(Hold.account_id)
            )
        )
    }
    lots: dict[uuid.UUID, int] = {
        k: int(v or 0)
        for k, v in (
            await db.execute(
                select(Lot.account_id, func.sum(Lot.remaining))
                .where(Lot.community_id == report.community_id)
                .group_by(Lot.account_id)
            )
        )
    }
    for a in accounts.values():
        seq, head = state.get(a.id, (0, ""))
        if a.balance != sums.get(a.id, 0):
            report.add(
                "balance_mismatch", f"cached {a.balance}, entries sum {sums.get(a.id, 0)}", account_id=a.id
            )
        if a.entry_count != seq or (a.last_hash or "") != (head if seq else ""):
            report.add("chain_head_mismatch", "cached chain head differs from the entries", account_id=a.id)
        if a.held != held.get(a.id, 0):
            report.add(
                "held_mismatch", f"cached {a.held}, pending holds {held.get(a.id, 0)}", account_id=a.id
            )
        if a.kind != "member":
            continue
        if a.held < 0 or a.balance - a.held < 0:
            report.add("member_negative", f"balance {a.balance}, held {a.held}", account_id=a.id)
        if a.balance != a.earned - a.spent - a.expired:
            report.add("totals_mismatch", "balance is not earned - spent - expired", account_id=a.id)
        if a.balance != lots.get(a.id, 0):
            report.add(
                "lots_mismatch", f"lots hold {lots.get(a.id, 0)}, balance {a.balance}", account_id=a.id
            )


async def _verify_transfers(
    db: AsyncSession, report: VerifyReport, legs: dict[uuid.UUID, list[tuple[uuid.UUID, int]]]
) -> None:
    stream = await db.stream(
        select(Transfer).where(Transfer.community_id == report.community_id),
        execution_options={"yield_per": 2000},
    )
    seen = 0
    async for t in stream.scalars():
        seen += 1
        mine = legs.get(t.id, [])
        if sum(p for _, p in mine) != 0 or sum(p for _, p in mine if p > 0) != t.points or len(mine) < 2:
            report.add(
                "transfer_not_balanced", "entries do not sum to zero or to its points", transfer_id=t.id
            )
        chash = rules.content_hash(
            "transfer", legs=mine, code=t.code, memo=t.memo, ref_type=t.ref_type, ref_id=t.ref_id
        )
        if chash != t.content_hash:
            report.add("transfer_hash_mismatch", "reason, memo or reference was changed", transfer_id=t.id)
    report.transfers_checked = seen


# ---------------------------------------------------------------- policy and manual awards

EXPIRY_DAYS_MAX = 3650
EXPIRY_YEARS_MAX = 10
REASON_MAX = 120
"""Longest reason of a manual award (shown in the member's history)."""


KNOB_POLICY = "points_policy"
"""The proposals' name of the expiry rule and award approval threshold (applied by :func:`apply_policy`)."""


@raises(InvalidExpiryMode, InvalidExpiryValue, InvalidThreshold, require_role)
async def set_policy(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    expiry_mode: str,
    expiry_value: int = 0,
    award_approval_threshold: int = 100,
) -> Policy | Proposed:
    """Change the community's expiry rule (for points earned from now on) and approval threshold. A
    higher threshold or longer-lived points wait for a second person (a :class:`Proposed`)."""
    await require_role(db, actor, community_id, "admin")
    after = _checked_policy(expiry_mode, expiry_value, award_approval_threshold)
    policy = await db.get(Policy, community_id, with_for_update=True)
    before = _policy_values(policy or await get_policy(db, community_id))
    widens = rules.policy_widens(before, after)
    proposed = await gate(db, actor, community_id, KNOB_POLICY, before, after, widens=widens)
    if proposed is not None:
        return proposed
    return await _store_policy(db, community_id, policy, after, actor.member_id)


@raises(InvalidExpiryMode, InvalidExpiryValue, InvalidThreshold)
async def apply_policy(
    db: AsyncSession,
    community_id: uuid.UUID,
    target_id: uuid.UUID | None,
    before: dict[str, Any],
    after: dict[str, Any],
    by: uuid.UUID,
) -> bool:
    """Apply an approved policy, re-validated; False (nothing changed) if it is no longer ``before``."""
    policy = await db.get(Policy, community_id, with_for_update=True)
    if _policy_values(policy or await get_policy(db, community_id)) != before:
        return False
    checked = _checked_policy(after["expiry_mode"], after["expiry_value"], after["award_approval_threshold"])
    await _store_policy(db, community_id, policy, checked, by)
    return True


def _policy_values(policy: Policy) -> dict[str, Any]:
    return {
        "expiry_mode": policy.expiry_mode,
        "expiry_value": policy.expiry_value,
        "award_approval_threshold": policy.award_approval_threshold,
    }


def _checked_policy(expiry_mode: str, expiry_value: int, award_approval_threshold: int) -> dict[str, Any]:
    limits = {"never": (0, 0), "days": (1, EXPIRY_DAYS_MAX), "years": (1, EXPIRY_YEARS_MAX)}
    if expiry_mode not in limits:
        raise InvalidExpiryMode()
    low, high = limits[expiry_mode]
    if expiry_mode == "never":
        expiry_value = 0
    if not low <= expiry_value <= high:
        raise InvalidExpiryValue(
            params={"mode": expiry_mode, "low": low, "high": high},
            errors=[{"field": "expiry_value", "message": "%(low)s-%(high)s"}],
        )
    if not 0 <= award_approval_threshold <= POINTS_PER_AWARD_MAX:
        raise InvalidThreshold(params={"max": POINTS_PER_AWARD_MAX})
    return {
        "expiry_mode": expiry_mode,
        "expiry_value": expiry_value,
        "award_approval_threshold": award_approval_threshold,
    }


async def _store_policy(
    db: AsyncSession, community_id: uuid.UUID, policy: Policy | None, values: dict[str, Any], by: uuid.UUID
) -> Policy:
    if policy is None:
        policy = Policy(community_id=community_id)
        db.add(policy)
    policy.expiry_mode, policy.expiry_value = values["expiry_mode"], values["expiry_value"]
    policy.award_approval_threshold = values["award_approval_threshold"]
    policy.updated_at, policy.updated_by = clock.now(), by
    await db.flush()
    return policy


def _award_memo(award_request: AwardRequest) -> str:
    memo = award_request.reason
    if award_request.memo:
        memo = f"{memo} — {award_request.memo}"
    return memo[:MEMO_MAX]


async def _post_award(db: AsyncSession, award_request: AwardRequest, actor: Actor) -> None:
    """Post the award (or leave it pending beyond the month's budget: ``transfer_id`` stays empty)."""
    result = await award(
        db,
        community_id=award_request.community_id,
        member_id=award_request.member_id,
        points=award_request.points,
        code="manual_award",
        memo=_award_memo(award_request),
        ref_type="award",
        ref_id=str(award_request.id),
        actor_id=actor.member_id,
        idempotency_key=f"award:{award_request.id}",
    )
    award_request.status, award_request.transfer_id = "posted", result.transfer_id


@raises(
    InvalidPoints,
    InvalidReason,
    InvalidReasonCode,
    InvalidMemo,
    InvalidRef,
    InvalidIdempotencyKey,
    MemberNotFound,
    require_role,
    award,
)
async def request_award(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    *,
    member_id: uuid.UUID,
    points: int,
    reason: str,
    memo: str = "",
    client_addr: str | None = None,
) -> AwardRequest:
    """A manual award by an admin: posted now, or waiting for another admin above the threshold.

    An award to oneself always waits for another admin, whatever the amount.
    """
    await require_role(db, actor, community_id, "admin")
    _check_points(points)
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= REASON_MAX:
        raise InvalidReason(
            params={"max": REASON_MAX},
            errors=[{"field": "reason", "message": "1-%(max)s characters"}],
        )
    _, memo, _, _, _ = _check_text("manual_award", memo, None, None, None)
    if not await people.is_member(db, member_id, community_id):
        raise MemberNotFound()
    policy = await get_policy(db, community_id)
    # An award to oneself or one's household always waits for another admin, whatever the amount.
    own = await household_history.conflicted(db, community_id, actor.member_id, {member_id}, clock.now())
    needs_approval = points > policy.award_approval_threshold or own
    award_request = AwardRequest(
        community_id=community_id,
        member_id=member_id,
        points=points,
        reason=reason,
        memo=memo,
        status="pending_approval" if needs_approval else "posted",
        requested_by=actor.member_id,
    )
    db.add(award_request)
    await db.flush()
    if not needs_approval:
        await _post_award(db, award_request, actor)
        await db.flush()
    await _audit(db, actor, award_request, "award_requested", client_addr)
    return award_request


async def _audit(
    db: AsyncSession, actor: Actor, award_request: AwardRequest, action: str, client_addr: str | None
) -> None:
    await record(
        db,
        actor_id=actor.member_id,
        action=action,
        community_id=award_request.community_id,
        subject_member_id=award_request.member_id,
        detail={
            "award_id": str(award_request.id),
            "points": award_request.points,
            "reason": award_request.reason,
            "status": award_request.status,
        },
        client_addr=client_addr,
    )


async def _pending_award(db: AsyncSession, actor: Actor, award_id: uuid.UUID) -> AwardRequest:
    found = await db.scalar(
        select(AwardRequest)
        .where(AwardRequest.id == award_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise AwardNotFound()
    await require_role(db, actor, found.community_id, "admin")
    if found.status != "pending_approval":
        raise AwardNotPending(params={"status": found.status})
    if found.requested_by == actor.member_id:
        raise SameAdmin()
    if await household_history.conflicted(
        db, found.community_id, actor.member_id, {found.member_id, found.requested_by}, found.created_at
    ):
        raise ApproverConflict()  # the member, or either one's household at any time since the request
    return found


@raises(AwardNotFound, AwardNotPending, SameAdmin, ApproverConflict, require_role, award)
async def approve_award(
    db: AsyncSession, actor: Actor, award_id: uuid.UUID, *, client_addr: str | None = None
) -> AwardRequest:
    """A second admin approves a pending award; its points post now.

    Neither the admin who asked nor the member who benefits may approve.
    """
    found = await _pending_award(db, actor, award_id)
    found.decided_by, found.decided_at = actor.member_id, clock.now()
    await _post_award(db, found, actor)
    await db.flush()
    await _audit(db, actor, found, "award_approved", client_addr)
    return found


@raises(AwardNotFound, AwardNotPending, SameAdmin, ApproverConflict, require_role)
async def reject_award(
    db: AsyncSession, actor: Actor, award_id: uuid.UUID, *, client_addr: str | None = None
) -> AwardRequest:
    """A second admin turns a pending award down; no points move."""
    found = await _pending_award(db, actor, award_id)
    found.status, found.decided_by, found.decided_at = "rejected", actor.member_id, clock.now()
    await db.flush()
    await _audit(db, actor, found, "award_rejected", client_addr)
    return found


@raises(require_role, reverse)
async def reverse_as_admin(
    db: AsyncSession,
    actor: Actor,
    community_id: uuid.UUID,
    transfer_id: uuid.UUID,
    memo: str = "",
    *,
    client_addr: str | None = None,
) -> TransferResult:
    """An admin corrects a transfer of the community with a reversing transfer."""
    await require_role(db, actor, community_id, "admin")
    result = await reverse(db, transfer_id, actor_id=actor.member_id, memo=memo, community_id=community_id)
    member_id = await db.scalar(
        select(Account.member_id)
        .join(Entry, Entry.account_id == Account.id)
        .where(Entry.transfer_id == transfer_id, Account.member_id.is_not(None))
        .limit(1)
    )
    await record(
        db,
        actor_id=actor.member_id,
        action="transfer_reversed",
        community_id=community_id,
        subject_member_id=member_id,
        detail={
            "transfer_id": str(transfer_id),
            "reversal_id": str(result.transfer_id),
            "points": result.points,
            "memo": memo,
        },
        client_addr=client_addr,
    )
    return result


@raises(require_role)
async def verify_as_admin(db: AsyncSession, actor: Actor, community_id: uuid.UUID) -> VerifyReport:
    await require_role(db, actor, community_id, "admin")
    return await verify(db, community_id)
