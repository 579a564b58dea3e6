"""check-in and check-out in one round trip, many per transaction (group commit), PostgreSQL only

``jifen_scan_batch`` takes the scans of one worker's batch as arrays (one element per request) and
answers one row per scan. Per scan it re-checks what the worker's caches assumed: the member's token
version (revocation), the member's role in the activity's community and the activity's fingerprint
(``jifen_activity_fingerprint``: every column the worker's in-memory checks read); then it inserts the
attendance (a first scan), or locks the existing one and reports its status (too soon to check out) or
checks it out: minutes and points as service/activities/rules.py counts them, the attendance updated and
its points posted by ``ledger_post`` (migration 0009) with the same idempotency key, issuance shard
(``jifen_crc32`` = Python's ``zlib.crc32``) and content hash as ``points.service.award``.

Each scan runs in its own subtransaction (a PL/pgSQL block with an EXCEPTION clause): a scan that
fails, or that the cheap path cannot answer (outcome ``slow``: a refusal, a stale cache, an account not
created yet), writes nothing and never fails the others; the worker runs it again on the ordinary path,
which gives the refusal its code. Before any check-out the batch locks every ledger account it may
touch (the communities' issuance shards and the members' accounts) in id order, so batches of two
workers queue instead of deadlocking.

``store_redeem_voucher``: a partner's redemption in one call (issue 13, redeem path): find the code's
voucher the caller is staff for, mark it redeemed and post its hold to the partner (``ledger_post``
with the hold, the content hash of ``points.post_hold``), answer the voucher, its offer and the member's
name. Anything but the plain success (unknown code, another shop's, expired, already used...) writes
nothing and answers ``slow``: the ordinary path in service/store/service.py refuses it with its code.
``store_reserve_order``: a member's order in one call: the product's stock (its row lock), the
monthly limit in the community's time zone, the store settings' order days, the points held by
``ledger_hold`` (key ``order:<id>``, the content hash of ``points.hold``) and the order row. As above,
only the plain success writes; anything else answers ``slow`` and the ordinary path refuses it.
No tables change.

Revision ID: 0014
Revises: 0012 (the file 0012_regions.py; issue 13's parallel migration 0013 is re-linked at merge)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    assert zlib.crc32(b"a") == _crc(table, b"a")
    return table


def _crc(table: list[int], data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


CRC32 = f"""
CREATE OR REPLACE FUNCTION jifen_crc32(s text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t bigint[] := ARRAY[{", ".join(str(v) for v in _crc_table())}]::bigint[];
    b bytea := convert_to(s, 'UTF8');
    crc bigint := 4294967295;
BEGIN
    FOR i IN 0 .. length(b) - 1 LOOP
        crc := t[((crc # get_byte(b, i)) & 255) + 1] # (crc >> 8);
    END LOOP;
    RETURN crc # 4294967295;
END;
$$
"""

FINGERPRINT = """
CREATE OR REPLACE FUNCTION jifen_activity_fingerprint(a activities) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT md5(ROW(a.community_id, a.title, ledger_utc_text(a.starts_at), ledger_utc_text(a.ends_at), a.lat,
        a.lng, a.radius_m, a.capacity, a.signup_required, a.points_mode, a.points, a.points_max, a.status,
        a.secret, a.poster_version, a.created_by)::text)
$$
"""

SCAN_BATCH = """
CREATE OR REPLACE FUNCTION jifen_scan_batch(
    p_member uuid[], p_version int[], p_activity uuid[], p_fingerprint text[], p_evidence text[],
    p_moment timestamptz[], p_device text[], p_plain boolean[], p_memo_json text[], p_now timestamptz[],
    p_att uuid[], p_transfer uuid[], p_debit_entry uuid[], p_credit_entry uuid[], p_lot uuid[],
    p_shards int, p_min_stay_s int, p_award_max bigint
) RETURNS TABLE (o_idx int, o_outcome text, o_att attendances, o_awarded bigint, o_name text,
                 o_phone text, o_admin boolean, o_version int, o_detail text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_member, 1), 0);
    todo int[] := '{}';
    lock_comm uuid[] := '{}';
    lock_key text[] := '{}';
    mem record;
    act activities%ROWTYPE;
    att attendances%ROWTYPE;
    v_roles text[];
    v_org boolean;
    v_out timestamptz;
    v_start timestamptz;
    v_end timestamptz;
    v_minutes int;
    v_points bigint;
    v_key text;
    v_shard int;
    v_debit uuid;
    v_credit uuid;
    v_legs text;
    v_chash text;
    posted record;
    i int;
BEGIN
    -- Pass 1: re-check each scan, insert first scans; the others wait for pass 2.
    FOR i IN 1 .. n LOOP
        o_idx := i; o_att := NULL; o_awarded := 0; o_detail := NULL;
        o_name := NULL; o_phone := NULL; o_admin := NULL; o_version := NULL;
        BEGIN
            SELECT m.token_version, m.name, m.phone, m.is_platform_admin INTO mem
              FROM members m WHERE m.id = p_member[i];
            IF NOT FOUND OR mem.token_version <> p_version[i] THEN
                o_outcome := 'slow'; o_detail := 'token'; RETURN NEXT; CONTINUE;
            END IF;
            o_name := mem.name; o_phone := mem.phone; o_admin := mem.is_platform_admin;
            o_version := mem.token_version;
            SELECT * INTO act FROM activities a WHERE a.id = p_activity[i];
            IF NOT FOUND OR jifen_activity_fingerprint(act) <> p_fingerprint[i] THEN
                o_outcome := 'slow'; o_detail := 'stale'; RETURN NEXT; CONTINUE;
            END IF;
            SELECT coalesce(array_agg(ms.role::text), '{}') INTO v_roles FROM memberships ms
             WHERE ms.community_id = act.community_id AND ms.member_id = p_member[i];
            IF NOT (mem.is_platform_admin OR 'member' = ANY(v_roles) OR 'admin' = ANY(v_roles)) THEN
                o_outcome := 'slow'; o_detail := 'role'; RETURN NEXT; CONTINUE;
            END IF;
            v_org := mem.is_platform_admin OR act.created_by = p_member[i]
                     OR v_roles && ARRAY['organizer', 'admin']::text[];
            IF p_plain[i] THEN
                INSERT INTO attendances (id, community_id, activity_id, member_id, status, evidence,
                    checked_in_at, checked_out_at, minutes, points, device_id, scanned_by, requested_by,
                    approved_by, note, needs_confirmation, created_at)
                VALUES (p_att[i], act.community_id, act.id, p_member[i], 'in', p_evidence[i], p_moment[i],
                    NULL, 0, 0, p_device[i], NULL, NULL, NULL, NULL, v_org, p_now[i])
                ON CONFLICT DO NOTHING
                RETURNING * INTO att;
                IF FOUND THEN
                    o_outcome := 'checked_in'; o_att := att; RETURN NEXT; CONTINUE;
                END IF;
            END IF;
            todo := todo || i;
            lock_comm := lock_comm || act.community_id;
            lock_key := lock_key || ('member:' || p_member[i]::text);
        EXCEPTION WHEN OTHERS THEN
            o_outcome := 'slow'; o_detail := SQLSTATE || ' ' || SQLERRM; RETURN NEXT;
        END;
    END LOOP;
    IF cardinality(todo) = 0 THEN
        RETURN;
    END IF;
    -- Every account pass 2 may post to, locked in one order (id) before any attendance lock.
    FOR v_shard IN 0 .. p_shards - 1 LOOP
        lock_key := lock_key || CASE WHEN v_shard = 0 THEN 'issuance' ELSE 'issuance:' || v_shard END;
    END LOOP;
    PERFORM 1 FROM ledger_accounts a
     WHERE a.community_id = ANY(lock_comm) AND a.owner_key = ANY(lock_key)
     ORDER BY a.id FOR UPDATE;
    -- Pass 2: scans of members with an attendance: report, or check out and post.
    FOREACH i IN ARRAY todo LOOP
        o_idx := i; o_att := NULL; o_awarded := 0; o_detail := NULL;
        BEGIN
            SELECT m.token_version, m.name, m.phone, m.is_platform_admin INTO mem
              FROM members m WHERE m.id = p_member[i];
            o_name := mem.name; o_phone := mem.phone; o_admin := mem.is_platform_admin;
            o_version := mem.token_version;
            SELECT * INTO act FROM activities a WHERE a.id = p_activity[i];
            SELECT * INTO att FROM attendances x
             WHERE x.activity_id = p_activity[i] AND x.member_id = p_member[i] FOR UPDATE;
            IF NOT FOUND OR att.status <> 'in' OR att.checked_in_at IS NULL THEN
                o_outcome := 'slow'; o_detail := 'attendance'; RETURN NEXT; CONTINUE;
            END IF;
            IF p_moment[i] - att.checked_in_at < make_interval(secs => p_min_stay_s) THEN
                o_outcome := 'repeated'; o_att := att; RETURN NEXT; CONTINUE;
            END IF;
            v_out := greatest(p_moment[i], att.checked_in_at);
            v_start := greatest(att.checked_in_at, act.starts_at);
            v_end := least(v_out, act.ends_at);
            v_minutes := CASE WHEN v_end <= v_start THEN 0
                              ELSE floor(extract(epoch FROM v_end - v_start) / 60)::int END;
            v_points := CASE WHEN act.points_mode = 'per_attendance' THEN act.points
                             ELSE (act.points::bigint * v_minutes) / 60 END;
            IF act.points_max IS NOT NULL THEN
                v_points := least(v_points, act.points_max);
            END IF;
            v_points := greatest(0, v_points);
            IF att.needs_confirmation AND att.approved_by IS NULL THEN
                UPDATE attendances x SET checked_out_at = v_out, minutes = v_minutes, points = v_points,
                    status = 'pending' WHERE x.id = att.id RETURNING * INTO att;
                o_outcome := 'checked_out'; o_att := att; RETURN NEXT; CONTINUE;
            END IF;
            UPDATE attendances x SET checked_out_at = v_out, minutes = v_minutes, points = v_points,
                status = 'out' WHERE x.id = att.id RETURNING * INTO att;
            IF v_points > p_award_max THEN  -- points.award refuses it (invalid_points): the ordinary path
                RAISE EXCEPTION 'jifen_scan_batch: more points than one award may carry' USING ERRCODE = 'P0001';
            END IF;
            IF v_points > 0 THEN
                v_key := 'attendance:' || att.id::text;
                v_shard := jifen_crc32(v_key) % p_shards;
                SELECT a.id INTO v_debit FROM ledger_accounts a
                 WHERE a.community_id = act.community_id
                   AND a.owner_key = CASE WHEN v_shard = 0 THEN 'issuance' ELSE 'issuance:' || v_shard END;
                SELECT a.id INTO v_credit FROM ledger_accounts a
                 WHERE a.community_id = act.community_id AND a.owner_key = 'member:' || p_member[i]::text;
                IF v_debit IS NULL OR v_credit IS NULL THEN
                    RAISE EXCEPTION 'jifen_scan_batch: account not created yet' USING ERRCODE = 'P0001';
                END IF;
                -- rules.content_hash("transfer", legs=..., code="checkin", memo=..., ref_type="attendance",
                -- ref_id=<attendance id>): json.dumps(sort_keys=True), legs sorted by account id text.
                IF v_debit::text COLLATE "C" < v_credit::text COLLATE "C" THEN
                    v_legs := '[["' || v_debit::text || '", ' || (-v_points)::text || '], ["'
                              || v_credit::text || '", ' || v_points::text || ']]';
                ELSE
                    v_legs := '[["' || v_credit::text || '", ' || v_points::text || '], ["'
                              || v_debit::text || '", ' || (-v_points)::text || ']]';
                END IF;
                v_chash := encode(sha256(convert_to(
                    '{"code": "checkin", "extra": "", "legs": ' || v_legs || ', "memo": ' || p_memo_json[i]
                    || ', "op": "transfer", "ref_id": "' || att.id::text || '", "ref_type": "attendance"}',
                    'UTF8')), 'hex');
                SELECT * INTO posted FROM ledger_post(act.community_id, p_transfer[i], v_debit, v_credit,
                    v_points, 'checkin', (p_memo_json[i]::json #>> '{}'), 'attendance', att.id::text,
                    att.member_id, v_key, v_chash, NULL, NULL, p_now[i], p_debit_entry[i], p_credit_entry[i],
                    p_lot[i]);
                IF posted.status NOT IN ('ok', 'replayed') THEN
                    RAISE EXCEPTION 'jifen_scan_batch: ledger_post answered %', posted.status
                        USING ERRCODE = 'P0001';
                END IF;
                o_awarded := v_points;
            END IF;
            o_outcome := 'checked_out'; o_att := att; RETURN NEXT;
        EXCEPTION WHEN OTHERS THEN
            o_att := NULL; o_awarded := 0;
            o_outcome := 'slow'; o_detail := SQLSTATE || ' ' || SQLERRM; RETURN NEXT;
        END;
    END LOOP;
END;
$$
"""

REDEEM = """
CREATE OR REPLACE FUNCTION store_redeem_voucher(
    p_code text, p_actor uuid, p_admin boolean, p_now timestamptz,
    p_transfer uuid, p_debit_entry uuid, p_credit_entry uuid, p_lot uuid
) RETURNS TABLE (o_outcome text, o_voucher vouchers, o_offer offers, o_member_name text)
LANGUAGE plpgsql AS $$
DECLARE
    v vouchers%ROWTYPE;
    h ledger_holds%ROWTYPE;
    staff boolean := false;
    posted record;
    v_legs text;
    v_chash text;
BEGIN
    o_outcome := 'slow';
    FOR v IN SELECT * FROM vouchers x WHERE x.code = p_code ORDER BY x.id LOOP
        IF p_admin OR EXISTS (
            SELECT 1 FROM memberships m
             WHERE m.community_id = v.community_id AND m.member_id = p_actor
               AND (m.role = 'admin' OR (m.role = 'partner' AND m.partner_id = v.partner_id))
        ) THEN
            staff := true;
            EXIT;
        END IF;
    END LOOP;
    IF NOT staff OR v.status <> 'issued' OR v.expires_at <= p_now THEN
        RETURN NEXT;  -- the ordinary path gives the refusal its code
        RETURN;
    END IF;
    BEGIN
        UPDATE vouchers x SET status = 'redeemed', redeemed_at = p_now, redeemed_by = p_actor
         WHERE x.id = v.id AND x.status = 'issued' RETURNING * INTO v;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'store_redeem_voucher: taken meanwhile';
        END IF;
        SELECT * INTO h FROM ledger_holds x WHERE x.id = v.hold_id FOR UPDATE;
        IF NOT FOUND OR h.status <> 'pending' OR h.expires_at <= p_now THEN
            RAISE EXCEPTION 'store_redeem_voucher: hold not pending';
        END IF;
        -- rules.content_hash("transfer", legs, code, memo, ref_type, ref_id) as points.post_hold has it.
        IF h.account_id::text COLLATE "C" < h.payee_account_id::text COLLATE "C" THEN
            v_legs := '[["' || h.account_id::text || '", ' || (-h.points)::text || '], ["'
                      || h.payee_account_id::text || '", ' || h.points::text || ']]';
        ELSE
            v_legs := '[["' || h.payee_account_id::text || '", ' || h.points::text || '], ["'
                      || h.account_id::text || '", ' || (-h.points)::text || ']]';
        END IF;
        v_chash := encode(sha256(convert_to(
            '{"code": ' || to_json(h.code)::text || ', "extra": "", "legs": ' || v_legs
            || ', "memo": ' || to_json(h.memo)::text || ', "op": "transfer", "ref_id": '
            || coalesce(to_json(h.ref_id)::text, 'null') || ', "ref_type": '
            || coalesce(to_json(h.ref_type)::text, 'null') || '}', 'UTF8')), 'hex');
        SELECT * INTO posted FROM ledger_post(h.community_id, p_transfer, h.account_id, h.payee_account_id,
            h.points, h.code, h.memo, h.ref_type, h.ref_id, p_actor, NULL, v_chash, NULL, h.id, p_now,
            p_debit_entry, p_credit_entry, p_lot);
        IF posted.status <> 'ok' THEN
            RAISE EXCEPTION 'store_redeem_voucher: ledger_post answered %', posted.status;
        END IF;
    EXCEPTION WHEN raise_exception THEN  -- undone; the ordinary path decides
        RETURN NEXT;
        RETURN;
    END;
    SELECT * INTO o_offer FROM offers f WHERE f.id = v.offer_id;
    SELECT m.name INTO o_member_name FROM members m WHERE m.id = v.member_id;
    o_voucher := v;
    o_outcome := 'ok';
    RETURN NEXT;
END;
$$
"""

RESERVE = """
CREATE OR REPLACE FUNCTION store_reserve_order(
    p_product uuid, p_actor uuid, p_admin boolean, p_quantity int, p_quantity_max int, p_now timestamptz,
    p_order uuid, p_code text, p_hold uuid, p_days_default int, p_grace interval, p_hold_max interval
) RETURNS TABLE (o_outcome text, o_order orders)
LANGUAGE plpgsql AS $$
DECLARE
    pr products%ROWTYPE;
    o orders%ROWTYPE;
    v_price bigint;
    v_limit int;
    v_used bigint;
    v_zone text;
    v_days int;
    v_expires timestamptz;
    v_hold_expires timestamptz;
    v_total bigint;
    v_src uuid;
    v_dst uuid;
    v_memo text;
    v_legs text;
    v_chash text;
    held record;
BEGIN
    o_outcome := 'slow';
    IF p_quantity < 1 OR p_quantity > p_quantity_max THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO pr FROM products x WHERE x.id = p_product;
    IF NOT FOUND OR NOT pr.active
       OR (pr.available_from IS NOT NULL AND pr.available_from > p_now)
       OR (pr.available_until IS NOT NULL AND pr.available_until <= p_now)
       OR NOT (p_admin OR EXISTS (
           SELECT 1 FROM memberships m WHERE m.community_id = pr.community_id AND m.member_id = p_actor
              AND m.role IN ('member', 'admin'))) THEN
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT a.id INTO v_src FROM ledger_accounts a
     WHERE a.community_id = pr.community_id AND a.owner_key = 'member:' || p_actor::text;
    SELECT a.id INTO v_dst FROM ledger_accounts a WHERE a.community_id = pr.community_id AND a.owner_key = 'store';
    IF v_src IS NULL OR v_dst IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    BEGIN
        -- the product's row lock until commit: orders of one product queue here (as in service.py)
        UPDATE products x SET stock = x.stock - p_quantity
         WHERE x.id = pr.id AND x.active AND x.stock >= p_quantity
        RETURNING x.points, x.limit_per_member INTO v_price, v_limit;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'store_reserve_order: out of stock';
        END IF;
        IF v_limit IS NOT NULL THEN
            SELECT c.timezone INTO v_zone FROM communities c WHERE c.id = pr.community_id;
            SELECT coalesce(sum(x.quantity), 0) INTO v_used FROM orders x
             WHERE x.member_id = p_actor AND x.product_id = pr.id AND x.status IN ('reserved', 'fulfilled')
               AND x.created_at >= (date_trunc('month', p_now AT TIME ZONE v_zone) AT TIME ZONE v_zone);
            IF v_used + p_quantity > v_limit THEN
                RAISE EXCEPTION 'store_reserve_order: limit reached';
            END IF;
        END IF;
        SELECT s.order_days INTO v_days FROM store_settings s WHERE s.community_id = pr.community_id;
        v_expires := p_now + make_interval(days => coalesce(nullif(v_days, 0), p_days_default));
        v_hold_expires := v_expires + p_grace;
        IF v_hold_expires > p_now + p_hold_max THEN
            RAISE EXCEPTION 'store_reserve_order: hold too long';
        END IF;
        v_total := v_price * p_quantity;
        v_memo := regexp_replace(left(pr.name || ' x' || p_quantity::text, 200),
                                 '^[[:space:]]+|[[:space:]]+$', '', 'g');
        IF v_src::text COLLATE "C" < v_dst::text COLLATE "C" THEN
            v_legs := '[["' || v_src::text || '", ' || (-v_total)::text || '], ["' || v_dst::text || '", '
                      || v_total::text || ']]';
        ELSE
            v_legs := '[["' || v_dst::text || '", ' || v_total::text || '], ["' || v_src::text || '", '
                      || (-v_total)::text || ']]';
        END IF;
        -- rules.content_hash("hold", ...) as points.hold computes it for reserve_order
        v_chash := encode(sha256(convert_to(
            '{"code": "order", "extra": "", "legs": ' || v_legs || ', "memo": ' || to_json(v_memo)::text
            || ', "op": "hold", "ref_id": "' || p_order::text || '", "ref_type": "order"}', 'UTF8')), 'hex');
        SELECT * INTO held FROM ledger_hold(pr.community_id, p_hold, v_src, v_dst, v_total, v_hold_expires,
            'order', v_memo, 'order', p_order::text, p_actor, 'order:' || p_order::text, v_chash, p_now);
        IF held.status <> 'ok' THEN
            RAISE EXCEPTION 'store_reserve_order: ledger_hold answered %', held.status;
        END IF;
        INSERT INTO orders (id, community_id, product_id, member_id, quantity, points, status, pickup_code,
                            hold_id, expires_at, closed_at, closed_by, created_at)
        VALUES (p_order, pr.community_id, pr.id, p_actor, p_quantity, v_total, 'reserved', p_code, p_hold,
                v_expires, NULL, NULL, p_now)
        ON CONFLICT DO NOTHING
        RETURNING * INTO o;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'store_reserve_order: pickup code taken';
        END IF;
    EXCEPTION WHEN raise_exception THEN  -- undone; the ordinary path decides (and refuses with the code)
        RETURN NEXT;
        RETURN;
    END;
    o_order := o;
    o_outcome := 'ok';
    RETURN NEXT;
END;
$$
"""

FUNCTIONS = (
    "store_reserve_order(uuid, uuid, boolean, int, int, timestamptz, uuid, text, uuid, int, interval, interval)",
    "store_redeem_voucher(text, uuid, boolean, timestamptz, uuid, uuid, uuid, uuid)",
    "jifen_scan_batch(uuid[], int[], uuid[], text[], text[], timestamptz[], text[], boolean[], text[],"
    " timestamptz[], uuid[], uuid[], uuid[], uuid[], uuid[], int, int, bigint)",
    "jifen_activity_fingerprint(activities)",
    "jifen_crc32(text)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps the ordinary path (one writer; service/activities/service.py)
    for sql in (CRC32, FINGERPRINT, SCAN_BATCH, REDEEM, RESERVE):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
