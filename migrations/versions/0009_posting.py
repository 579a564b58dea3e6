"""posting engine: one round trip per transfer, hold and release on PostgreSQL

PL/pgSQL functions that do what service/points/ledger.py does on SQLite: lock both accounts in id
order, check the idempotency key and the overdraft rule, insert the transfer, its two hash-chained
entries and the member's lot, consume lots oldest-expiring first, and move the accounts' balances,
totals and chain heads. The entry hash is byte-identical to service/points/rules.py ``entry_hash``
(SHA-256 over ``prev|entry|community|transfer|account|points|seq|expires|created``, UTC times with
microseconds), so ``jifen ledger verify`` checks rows written by either path. No tables change.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TEXT = """
CREATE OR REPLACE FUNCTION ledger_utc_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN ''
        ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$
"""

ENTRY_HASH = """
CREATE OR REPLACE FUNCTION ledger_entry_hash(
    prev text, entry_id uuid, community_id uuid, transfer_id uuid, account_id uuid,
    points bigint, seq bigint, expires_at timestamptz, created_at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        prev || '|' || entry_id::text || '|' || community_id::text || '|' || transfer_id::text
        || '|' || account_id::text || '|' || points::text || '|' || seq::text
        || '|' || ledger_utc_text(expires_at) || '|' || ledger_utc_text(created_at), 'UTF8')), 'hex')
$$
"""

POST = """
CREATE OR REPLACE FUNCTION ledger_post(
    p_community uuid, p_transfer uuid, p_debit uuid, p_credit uuid, p_points bigint,
    p_code text, p_memo text, p_ref_type text, p_ref_id text, p_actor uuid, p_key text,
    p_chash text, p_reverses uuid, p_hold uuid, p_now timestamptz,
    p_debit_entry uuid, p_credit_entry uuid, p_lot uuid,
    OUT status text, OUT transfer_id uuid, OUT points bigint, OUT available bigint
) LANGUAGE plpgsql AS $$
DECLARE
    acc ledger_accounts%ROWTYPE;
    src ledger_accounts%ROWTYPE;
    dst ledger_accounts%ROWTYPE;
    n int := 0;
    earlier record;
    v_mode text;
    v_value int;
    v_zone text;
    v_expires timestamptz;
    v_left bigint;
    v_take bigint;
    lot record;
    v_prev text;
    v_hash text;
BEGIN
    -- One lock order for every writer (accounts by id): no deadlocks between transfers.
    FOR acc IN SELECT * FROM ledger_accounts a WHERE a.id IN (p_debit, p_credit) ORDER BY a.id FOR UPDATE LOOP
        n := n + 1;
        IF acc.id = p_debit THEN src := acc; ELSE dst := acc; END IF;
    END LOOP;
    IF n < 2 OR src.community_id <> p_community OR dst.community_id <> p_community THEN
        status := 'missing';
        RETURN;
    END IF;
    IF p_key IS NOT NULL THEN
        SELECT t.id, t.points, t.content_hash INTO earlier FROM ledger_transfers t
         WHERE t.community_id = p_community AND t.idempotency_key = p_key;
        IF FOUND THEN
            status := CASE WHEN earlier.content_hash = p_chash THEN 'replayed' ELSE 'key_conflict' END;
            transfer_id := earlier.id;
            points := earlier.points;
            RETURN;
        END IF;
    END IF;
    IF p_hold IS NULL AND src.kind = 'member' AND src.balance - src.held < p_points THEN
        status := 'insufficient';
        available := src.balance - src.held;
        RETURN;
    END IF;
    INSERT INTO ledger_transfers (id, community_id, points, code, memo, ref_type, ref_id, actor_id,
                                  idempotency_key, content_hash, reverses_id, created_at)
    VALUES (p_transfer, p_community, p_points, p_code, p_memo, p_ref_type, p_ref_id, p_actor,
            p_key, p_chash, p_reverses, p_now)
    ON CONFLICT (community_id, idempotency_key) DO NOTHING;
    IF NOT FOUND THEN  -- a twin with the same key committed meanwhile
        SELECT t.id, t.points, t.content_hash INTO earlier FROM ledger_transfers t
         WHERE t.community_id = p_community AND t.idempotency_key = p_key;
        status := CASE WHEN earlier.content_hash = p_chash THEN 'replayed' ELSE 'key_conflict' END;
        transfer_id := earlier.id;
        points := earlier.points;
        RETURN;
    END IF;
    IF dst.kind = 'member' THEN
        SELECT pol.expiry_mode, pol.expiry_value INTO v_mode, v_value
          FROM ledger_policies pol WHERE pol.community_id = p_community;
        IF FOUND AND v_mode = 'days' AND v_value > 0 THEN
            v_expires := p_now + v_value * interval '24 hours';
        ELSIF FOUND AND v_mode = 'years' AND v_value > 0 THEN
            SELECT c.timezone INTO v_zone FROM communities c WHERE c.id = p_community;
            v_zone := coalesce(v_zone, 'Asia/Shanghai');
            v_expires := make_timestamptz(
                extract(year FROM p_now AT TIME ZONE v_zone)::int + v_value, 1, 1, 0, 0, 0, v_zone);
        END IF;
    END IF;
    IF src.kind = 'member' THEN  -- spend lots oldest-expiring first, never-expiring last
        v_left := p_points;
        FOR lot IN SELECT l.id, l.remaining FROM ledger_lots l
                    WHERE l.account_id = src.id AND l.remaining > 0
                    ORDER BY l.expires_at ASC NULLS LAST, l.id LOOP
            EXIT WHEN v_left <= 0;
            v_take := least(lot.remaining, v_left);
            UPDATE ledger_lots SET remaining = remaining - v_take WHERE id = lot.id;
            v_left := v_left - v_take;
        END LOOP;
        IF v_left > 0 THEN
            RAISE EXCEPTION 'lots of account % hold % points less than its balance', src.id, v_left;
        END IF;
    END IF;
    v_prev := coalesce(nullif(src.last_hash, ''), repeat('0', 64));
    v_hash := ledger_entry_hash(v_prev, p_debit_entry, p_community, p_transfer, src.id, -p_points,
                                src.entry_count + 1, NULL, p_now);
    INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash,
                                expires_at, created_at)
    VALUES (p_debit_entry, p_community, p_transfer, src.id, -p_points, src.entry_count + 1, v_prev, v_hash,
            NULL, p_now);
    UPDATE ledger_accounts a SET
        balance = a.balance - p_points,
        held = a.held - CASE WHEN p_hold IS NULL THEN 0 ELSE p_points END,
        earned = a.earned - CASE WHEN a.kind = 'member' AND dst.kind = 'issuance' THEN p_points ELSE 0 END,
        expired = a.expired + CASE WHEN a.kind = 'member' AND dst.kind = 'expired' THEN p_points ELSE 0 END,
        spent = a.spent
            + CASE WHEN a.kind = 'member' AND dst.kind NOT IN ('issuance', 'expired') THEN p_points ELSE 0 END,
        entry_count = a.entry_count + 1, last_hash = v_hash, version = a.version + 1
    WHERE a.id = src.id;
    v_prev := coalesce(nullif(dst.last_hash, ''), repeat('0', 64));
    v_hash := ledger_entry_hash(v_prev, p_credit_entry, p_community, p_transfer, dst.id, p_points,
                                dst.entry_count + 1, v_expires, p_now);
    INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash,
                                expires_at, created_at)
    VALUES (p_credit_entry, p_community, p_transfer, dst.id, p_points, dst.entry_count + 1, v_prev, v_hash,
            v_expires, p_now);
    UPDATE ledger_accounts a SET
        balance = a.balance + p_points,
        expired = a.expired - CASE WHEN a.kind = 'member' AND src.kind = 'expired' THEN p_points ELSE 0 END,
        earned = a.earned
            + CASE WHEN a.kind = 'member' AND src.kind IN ('issuance', 'member') THEN p_points ELSE 0 END,
        spent = a.spent
            - CASE WHEN a.kind = 'member' AND src.kind NOT IN ('issuance', 'member', 'expired')
                   THEN p_points ELSE 0 END,
        entry_count = a.entry_count + 1, last_hash = v_hash, version = a.version + 1
    WHERE a.id = dst.id;
    IF dst.kind = 'member' THEN
        INSERT INTO ledger_lots (id, community_id, account_id, entry_id, points, remaining, expires_at)
        VALUES (p_lot, p_community, dst.id, p_credit_entry, p_points, p_points, v_expires);
    END IF;
    IF p_hold IS NOT NULL THEN
        UPDATE ledger_holds h SET status = 'posted', transfer_id = p_transfer, resolved_at = p_now
         WHERE h.id = p_hold;
    END IF;
    status := 'ok';
    transfer_id := p_transfer;
    points := p_points;
END;
$$
"""

HOLD = """
CREATE OR REPLACE FUNCTION ledger_hold(
    p_community uuid, p_hold uuid, p_account uuid, p_payee uuid, p_points bigint, p_expires timestamptz,
    p_code text, p_memo text, p_ref_type text, p_ref_id text, p_actor uuid, p_key text, p_chash text,
    p_now timestamptz,
    OUT status text, OUT hold_id uuid, OUT points bigint, OUT expires_at timestamptz, OUT available bigint
) LANGUAGE plpgsql AS $$
DECLARE
    acc ledger_accounts%ROWTYPE;
    earlier record;
BEGIN
    SELECT * INTO acc FROM ledger_accounts a WHERE a.id = p_account AND a.community_id = p_community
       FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (
        SELECT 1 FROM ledger_accounts a WHERE a.id = p_payee AND a.community_id = p_community
    ) THEN
        status := 'missing';
        RETURN;
    END IF;
    SELECT h.id, h.points, h.expires_at, h.content_hash INTO earlier FROM ledger_holds h
     WHERE h.community_id = p_community AND h.idempotency_key = p_key;
    IF NOT FOUND THEN
        IF acc.balance - acc.held < p_points THEN
            status := 'insufficient';
            available := acc.balance - acc.held;
            RETURN;
        END IF;
        INSERT INTO ledger_holds (id, community_id, account_id, payee_account_id, points, status, expires_at,
                                  code, memo, ref_type, ref_id, actor_id, idempotency_key, content_hash,
                                  transfer_id, resolved_at, reason, created_at)
        VALUES (p_hold, p_community, p_account, p_payee, p_points, 'pending', p_expires, p_code, p_memo,
                p_ref_type, p_ref_id, p_actor, p_key, p_chash, NULL, NULL, '', p_now)
        ON CONFLICT (community_id, idempotency_key) DO NOTHING;
        IF FOUND THEN
            UPDATE ledger_accounts a SET held = a.held + p_points, version = a.version + 1
             WHERE a.id = p_account;
            status := 'ok';
            hold_id := p_hold;
            points := p_points;
            expires_at := p_expires;
            RETURN;
        END IF;
        SELECT h.id, h.points, h.expires_at, h.content_hash INTO earlier FROM ledger_holds h
         WHERE h.community_id = p_community AND h.idempotency_key = p_key;
    END IF;
    status := CASE WHEN earlier.content_hash = p_chash THEN 'replayed' ELSE 'key_conflict' END;
    hold_id := earlier.id;
    points := earlier.points;
    expires_at := earlier.expires_at;
END;
$$
"""

RELEASE = """
CREATE OR REPLACE FUNCTION ledger_release(
    p_hold uuid, p_status text, p_reason text, p_now timestamptz,
    OUT status text, OUT hold_status text, OUT account_id uuid
) LANGUAGE plpgsql AS $$
DECLARE
    h ledger_holds%ROWTYPE;
BEGIN
    SELECT * INTO h FROM ledger_holds x WHERE x.id = p_hold FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    hold_status := h.status;
    account_id := h.account_id;
    IF h.status <> 'pending' THEN
        status := 'not_pending';
        RETURN;
    END IF;
    UPDATE ledger_accounts a SET held = a.held - h.points, version = a.version + 1 WHERE a.id = h.account_id;
    UPDATE ledger_holds x SET status = p_status, resolved_at = p_now, reason = p_reason WHERE x.id = p_hold;
    status := 'ok';
    hold_status := p_status;
END;
$$
"""

FUNCTIONS = (
    "ledger_release(uuid, text, text, timestamptz)",
    "ledger_hold(uuid, uuid, uuid, uuid, bigint, timestamptz, text, text, text, text, uuid, text, text,"
    " timestamptz)",
    "ledger_post(uuid, uuid, uuid, uuid, bigint, text, text, text, text, uuid, text, text, uuid, uuid,"
    " timestamptz, uuid, uuid, uuid)",
    "ledger_entry_hash(text, uuid, uuid, uuid, uuid, bigint, bigint, timestamptz, timestamptz)",
    "ledger_utc_text(timestamptz)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite runs the same steps in Python (service/points/ledger.py)
    for sql in (UTC_TEXT, ENTRY_HASH, POST, HOLD, RELEASE):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
