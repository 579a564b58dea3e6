"""scan, redemption and order batches in a few set-based statements each (PostgreSQL only)

``jifen_scan_batch`` (migration 0014) ran each scan in two subtransactions of a dozen statements
(``ledger_post`` per check-out) and locked every issuance shard of the community before any
check-out, so the batches of all workers queued behind one another. Measured under the check-out load
(bench/checkin_bench.py --scan checkout): about 2.3 ms of PostgreSQL CPU per check-out, a 4,000-row
filter scan per batch for its account locks, and batches running one at a time.

Same signature, same answers; what changes is how the work is done:

1. Every scan is re-checked by ONE query (token version, the activity's fingerprint, roles).
2. First scans are inserted by one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING``.
3. Check-outs: the attendances are locked in id order by one query, decided in memory (too soon, not
   checked in, pending an organizer's confirmation, points), the members' ledger accounts locked in id
   order by one query, then ONE issuance shard per community that no other batch holds
   (``FOR NO KEY UPDATE SKIP LOCKED``; awards may come from any shard of the community: ``ledger verify``
   recomputes each transfer's content hash from its own legs). The hash chains are computed in a
   loop; the writes are one statement per table (attendances, transfers, entries, lots, member
   accounts, shard). Entry hashes, content hashes, keys (``attendance:<id>``) and account totals are
   exactly what ``ledger_post`` writes, so ``jifen ledger verify`` and the tamper tests are unchanged.
4. The writes of a batch form one subtransaction: if anything fails, nothing of the batch's
   check-outs is written and each of them takes the ordinary path (which gives a refusal its code).
   A member with two check-outs in one batch, an attendance scanned twice, more points than one award
   may carry or a member without a ledger account yet: that scan alone takes the ordinary path.

Lock order: attendances (id order), members' accounts (id order), then a shard that is free (never
waits); only when all of a community's shards are busy does a batch wait for one.

``store_redeem_batch`` and ``store_reserve_batch`` replace the per-call functions of migration 0014
inside a batch (``unnest ... CROSS JOIN LATERAL store_redeem_voucher(...)``), which took their locks
call by call (a member's account, then the shop's) and so needed a cross-worker advisory lock against
deadlocks. Each now locks what the batch needs in one order up front (vouchers with their holds, then
every account; or products, then the members' accounts, as the ordinary path does), decides each call
in arrival order against what the batch took before it (stock, the monthly limit, free points), and
writes one statement per table: the same rows as ``ledger_post`` / ``ledger_hold`` (hash chains,
content hashes, lots spent oldest-expiring first by one window ``UPDATE``). Each answers one row per
call, ``ok`` with the rows (and the shop's or the product's name) or ``slow`` (nothing of it written);
if the writes fail, nothing of the batch is written and every call takes the ordinary path.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
    r record;
    i int;
    k int;
    -- per scan (index i), filled by the re-check
    s_name text[]; s_phone text[]; s_admin boolean[]; s_version int[]; s_comm uuid[]; s_org boolean[];
    ins int[] := '{}';
    todo int[] := '{}';
    answered boolean[];
    -- attendances to finish (index i)
    f_att attendances[];
    f_out timestamptz[]; f_minutes int[]; f_points bigint[]; f_status text[];
    f_title text[];
    post int[] := '{}';
    seen_att uuid[] := '{}';
    seen_member uuid[] := '{}';
    m_acc uuid[]; m_prev text[]; m_seq bigint[];
    -- the writes, as arrays (one element per row)
    fin int[] := '{}';
    posted int[] := '{}';
    u_id uuid[] := '{}'; u_out timestamptz[] := '{}'; u_minutes int[] := '{}'; u_points bigint[] := '{}';
    u_status text[] := '{}';
    t_id uuid[] := '{}'; t_comm uuid[] := '{}'; t_points bigint[] := '{}'; t_memo text[] := '{}';
    t_ref text[] := '{}'; t_actor uuid[] := '{}'; t_key text[] := '{}'; t_chash text[] := '{}';
    t_now timestamptz[] := '{}';
    e_id uuid[] := '{}'; e_comm uuid[] := '{}'; e_transfer uuid[] := '{}'; e_account uuid[] := '{}';
    e_points bigint[] := '{}'; e_seq bigint[] := '{}'; e_prev text[] := '{}'; e_hash text[] := '{}';
    e_expires timestamptz[] := '{}'; e_now timestamptz[] := '{}';
    l_id uuid[] := '{}'; l_comm uuid[] := '{}'; l_account uuid[] := '{}'; l_entry uuid[] := '{}';
    l_points bigint[] := '{}'; l_expires timestamptz[] := '{}';
    a_id uuid[] := '{}'; a_points bigint[] := '{}'; a_hash text[] := '{}';
    sh_id uuid[] := '{}'; sh_total bigint[] := '{}'; sh_count bigint[] := '{}'; sh_hash text[] := '{}';
    done attendances[];
    upd attendances[] := '{}';
    shard_keys text[];
    shard ledger_accounts%ROWTYPE;
    v_comm uuid;
    v_mode text;
    v_value int;
    v_zone text;
    v_expires timestamptz;
    v_prev text;
    v_seq bigint;
    v_total bigint;
    v_count bigint;
    v_hash text;
    v_credit_hash text;
    v_legs text;
    v_chash text;
    v_key text;
    v_start timestamptz;
    v_end timestamptz;
    v_out timestamptz;
    v_minutes int;
    v_points bigint;
    v_detail text;
    att attendances%ROWTYPE;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    answered := array_fill(false, ARRAY[n]);
    -- 1. Re-check every scan in one query: the login's token version, the activity as the worker saw
    --    it (fingerprint), the member's roles in its community.
    FOR r IN
        SELECT s.i::int AS i, m.id IS NOT NULL AND m.token_version = s.v AS token_ok, m.name, m.phone,
               m.is_platform_admin AS admin, m.token_version AS version,
               coalesce(a.id IS NOT NULL AND jifen_activity_fingerprint(a) = s.fp, false) AS fresh,
               a.community_id, a.created_by,
               coalesce((SELECT array_agg(ms.role::text) FROM memberships ms
                          WHERE ms.community_id = a.community_id AND ms.member_id = s.m), '{}') AS roles
          FROM unnest(p_member, p_version, p_activity, p_fingerprint) WITH ORDINALITY AS s(m, v, act, fp, i)
          LEFT JOIN members m ON m.id = s.m
          LEFT JOIN activities a ON a.id = s.act
    LOOP
        o_idx := r.i; o_att := NULL; o_awarded := 0;
        o_name := NULL; o_phone := NULL; o_admin := NULL; o_version := NULL;
        o_outcome := 'slow';
        IF NOT coalesce(r.token_ok, false) THEN
            o_detail := 'token'; answered[r.i] := true; RETURN NEXT; CONTINUE;
        END IF;
        IF NOT r.fresh THEN
            o_detail := 'stale'; answered[r.i] := true; RETURN NEXT; CONTINUE;
        END IF;
        IF NOT (r.admin OR 'member' = ANY(r.roles) OR 'admin' = ANY(r.roles)) THEN
            o_detail := 'role'; answered[r.i] := true; RETURN NEXT; CONTINUE;
        END IF;
        s_name[r.i] := r.name; s_phone[r.i] := r.phone; s_admin[r.i] := r.admin;
        s_version[r.i] := r.version; s_comm[r.i] := r.community_id;
        s_org[r.i] := r.admin OR r.created_by = p_member[r.i] OR r.roles && ARRAY['organizer', 'admin']::text[];
        IF p_plain[r.i] THEN
            ins := ins || r.i;
        ELSE
            todo := todo || r.i;
        END IF;
    END LOOP;

    -- 2. First scans: one insert; a conflict means the member has an attendance (a second scan).
    IF cardinality(ins) > 0 THEN
        BEGIN
            FOR r IN
                WITH s AS (SELECT x.i FROM unnest(ins) AS x(i)),
                put AS (
                    INSERT INTO attendances (id, community_id, activity_id, member_id, status, evidence,
                        checked_in_at, checked_out_at, minutes, points, device_id, scanned_by, requested_by,
                        approved_by, note, needs_confirmation, created_at)
                    SELECT p_att[s.i], s_comm[s.i], p_activity[s.i], p_member[s.i], 'in', p_evidence[s.i],
                           p_moment[s.i], NULL, 0, 0, p_device[s.i], NULL, NULL, NULL, NULL, s_org[s.i],
                           p_now[s.i]
                      FROM s
                    ON CONFLICT DO NOTHING
                    RETURNING attendances AS row)
                SELECT s.i, put.row FROM put JOIN s ON p_att[s.i] = (put.row).id
            LOOP
                done[r.i] := r.row;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN  -- nothing inserted: each takes the ordinary path
            GET STACKED DIAGNOSTICS v_detail = RETURNED_SQLSTATE;
            FOREACH i IN ARRAY ins LOOP
                o_idx := i; o_outcome := 'slow'; o_att := NULL; o_detail := v_detail || ' ' || SQLERRM;
                answered[i] := true; RETURN NEXT;
            END LOOP;
            ins := '{}';
        END;
        FOREACH i IN ARRAY ins LOOP
            IF done[i] IS NULL THEN
                todo := todo || i;
            ELSE
                o_idx := i; o_outcome := 'checked_in'; o_att := done[i]; o_awarded := 0; o_detail := NULL;
                o_name := s_name[i]; o_phone := s_phone[i]; o_admin := s_admin[i]; o_version := s_version[i];
                answered[i] := true; RETURN NEXT;
            END IF;
        END LOOP;
    END IF;
    IF cardinality(todo) = 0 THEN
        RETURN;
    END IF;

    -- 3. Second scans: lock their attendances in id order and decide each in memory.
    FOR r IN
        SELECT s.i, x AS row, a.starts_at, a.ends_at, a.points_mode, a.points AS rate, a.points_max
          FROM unnest(todo) AS s(i)
          JOIN attendances x ON x.activity_id = p_activity[s.i] AND x.member_id = p_member[s.i]
          JOIN activities a ON a.id = x.activity_id
         ORDER BY x.id, s.i
           FOR UPDATE OF x
    LOOP
        i := r.i;
        att := r.row;
        o_idx := i; o_att := NULL; o_awarded := 0; o_detail := NULL;
        o_name := s_name[i]; o_phone := s_phone[i]; o_admin := s_admin[i]; o_version := s_version[i];
        answered[i] := true;
        IF att.id = ANY(seen_att) THEN  -- the same attendance twice in one batch: the ordinary path
            o_outcome := 'slow'; o_detail := 'twice'; RETURN NEXT; CONTINUE;
        END IF;
        seen_att := seen_att || att.id;
        IF att.status <> 'in' OR att.checked_in_at IS NULL THEN
            o_outcome := 'slow'; o_detail := 'attendance'; RETURN NEXT; CONTINUE;
        END IF;
        IF p_moment[i] - att.checked_in_at < make_interval(secs => p_min_stay_s) THEN
            o_outcome := 'repeated'; o_att := att; RETURN NEXT; CONTINUE;
        END IF;
        v_out := greatest(p_moment[i], att.checked_in_at);
        v_start := greatest(att.checked_in_at, r.starts_at);
        v_end := least(v_out, r.ends_at);
        v_minutes := CASE WHEN v_end <= v_start THEN 0
                          ELSE floor(extract(epoch FROM v_end - v_start) / 60)::int END;
        v_points := CASE WHEN r.points_mode = 'per_attendance' THEN r.rate
                         ELSE (r.rate::bigint * v_minutes) / 60 END;
        IF r.points_max IS NOT NULL THEN
            v_points := least(v_points, r.points_max);
        END IF;
        v_points := greatest(0, v_points);
        IF att.needs_confirmation AND att.approved_by IS NULL THEN
            f_status[i] := 'pending';
        ELSIF v_points > p_award_max THEN  -- points.award refuses it (invalid_points): the ordinary path
            o_outcome := 'slow'; o_detail := 'points'; RETURN NEXT; CONTINUE;
        ELSIF v_points > 0 AND att.member_id = ANY(seen_member) THEN  -- one chain step per member a batch
            o_outcome := 'slow'; o_detail := 'twice'; RETURN NEXT; CONTINUE;
        ELSE
            f_status[i] := 'out';
            IF v_points > 0 THEN
                post := post || i;
                seen_member := seen_member || att.member_id;
            END IF;
        END IF;
        f_att[i] := att; f_out[i] := v_out; f_minutes[i] := v_minutes; f_points[i] := v_points;
        fin := fin || i;
    END LOOP;
    FOREACH i IN ARRAY todo LOOP
        IF NOT answered[i] THEN  -- no attendance (deleted meanwhile): the ordinary path
            o_idx := i; o_outcome := 'slow'; o_att := NULL; o_awarded := 0; o_detail := 'attendance';
            answered[i] := true; RETURN NEXT;
        END IF;
    END LOOP;
    IF cardinality(fin) = 0 THEN
        RETURN;
    END IF;

    -- 4. The members' accounts, locked in id order; a member without one takes the ordinary path
    --    (which creates it).
    IF cardinality(post) > 0 THEN
        FOR r IN
            SELECT s.i, a.id, a.last_hash, a.entry_count
              FROM unnest(post) AS s(i)
              JOIN ledger_accounts a
                ON a.community_id = s_comm[s.i] AND a.owner_key = 'member:' || p_member[s.i]::text
             ORDER BY a.id
               FOR NO KEY UPDATE OF a
        LOOP
            m_acc[r.i] := r.id; m_prev[r.i] := r.last_hash; m_seq[r.i] := r.entry_count;
        END LOOP;
    END IF;
    shard_keys := ARRAY(SELECT CASE WHEN g = 0 THEN 'issuance' ELSE 'issuance:' || g END
                          FROM generate_series(0, p_shards - 1) AS g);

    -- 5. Per community: a free issuance shard, then each posting's entries chained in order.
    FOR v_comm IN SELECT DISTINCT s_comm[x.i] FROM unnest(post) AS x(i) LOOP
        SELECT * INTO shard FROM ledger_accounts a
         WHERE a.community_id = v_comm AND a.owner_key = ANY(shard_keys)
         ORDER BY random() LIMIT 1
           FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN  -- every shard busy (or none yet): wait for one
            SELECT * INTO shard FROM ledger_accounts a
             WHERE a.community_id = v_comm AND a.owner_key = ANY(shard_keys)
             ORDER BY random() LIMIT 1
               FOR NO KEY UPDATE;
        END IF;
        v_mode := NULL; v_value := 0; v_zone := NULL;
        SELECT pol.expiry_mode, pol.expiry_value INTO v_mode, v_value
          FROM ledger_policies pol WHERE pol.community_id = v_comm;
        IF v_mode = 'years' THEN
            SELECT coalesce(c.timezone, 'Asia/Shanghai') INTO v_zone FROM communities c WHERE c.id = v_comm;
            v_zone := coalesce(v_zone, 'Asia/Shanghai');
        END IF;
        v_prev := coalesce(nullif(shard.last_hash, ''), repeat('0', 64));
        v_seq := shard.entry_count;
        v_total := 0;
        v_count := 0;
        FOREACH i IN ARRAY post LOOP
            CONTINUE WHEN s_comm[i] <> v_comm;
            IF shard.id IS NULL OR m_acc[i] IS NULL THEN
                o_idx := i; o_outcome := 'slow'; o_att := NULL; o_awarded := 0;
                o_detail := 'account not created yet'; RETURN NEXT;
                f_status[i] := NULL;
                CONTINUE;
            END IF;
            att := f_att[i];
            v_points := f_points[i];
            v_key := 'attendance:' || att.id::text;
            v_expires := CASE
                WHEN v_mode = 'days' AND v_value > 0 THEN p_now[i] + v_value * interval '24 hours'
                WHEN v_mode = 'years' AND v_value > 0 THEN make_timestamptz(
                    extract(year FROM p_now[i] AT TIME ZONE v_zone)::int + v_value, 1, 1, 0, 0, 0, v_zone)
                END;
            -- rules.content_hash("transfer", legs=..., code="checkin", memo=..., ref_type="attendance",
            -- ref_id=<attendance id>): json.dumps(sort_keys=True), legs sorted by account id text.
            IF shard.id::text COLLATE "C" < m_acc[i]::text COLLATE "C" THEN
                v_legs := '[["' || shard.id::text || '", ' || (-v_points)::text || '], ["'
                          || m_acc[i]::text || '", ' || v_points::text || ']]';
            ELSE
                v_legs := '[["' || m_acc[i]::text || '", ' || v_points::text || '], ["'
                          || shard.id::text || '", ' || (-v_points)::text || ']]';
            END IF;
            v_chash := encode(sha256(convert_to(
                '{"code": "checkin", "extra": "", "legs": ' || v_legs || ', "memo": ' || p_memo_json[i]
                || ', "op": "transfer", "ref_id": "' || att.id::text || '", "ref_type": "attendance"}',
                'UTF8')), 'hex');
            v_seq := v_seq + 1;
            v_hash := ledger_entry_hash(v_prev, p_debit_entry[i], v_comm, p_transfer[i], shard.id, -v_points,
                                        v_seq, NULL, p_now[i]);
            e_id := e_id || p_debit_entry[i]; e_comm := e_comm || v_comm; e_transfer := e_transfer || p_transfer[i];
            e_account := e_account || shard.id; e_points := e_points || (-v_points); e_seq := e_seq || v_seq;
            e_prev := e_prev || v_prev; e_hash := e_hash || v_hash; e_expires := e_expires || NULL::timestamptz;
            e_now := e_now || p_now[i];
            v_prev := v_hash;
            v_credit_hash := ledger_entry_hash(coalesce(nullif(m_prev[i], ''), repeat('0', 64)),
                p_credit_entry[i], v_comm, p_transfer[i], m_acc[i], v_points, m_seq[i] + 1, v_expires, p_now[i]);
            e_id := e_id || p_credit_entry[i]; e_comm := e_comm || v_comm; e_transfer := e_transfer || p_transfer[i];
            e_account := e_account || m_acc[i]; e_points := e_points || v_points; e_seq := e_seq || (m_seq[i] + 1);
            e_prev := e_prev || coalesce(nullif(m_prev[i], ''), repeat('0', 64)); e_hash := e_hash || v_credit_hash;
            e_expires := e_expires || v_expires; e_now := e_now || p_now[i];
            t_id := t_id || p_transfer[i]; t_comm := t_comm || v_comm; t_points := t_points || v_points;
            t_memo := t_memo || (p_memo_json[i]::json #>> '{}'); t_ref := t_ref || att.id::text;
            t_actor := t_actor || att.member_id; t_key := t_key || v_key; t_chash := t_chash || v_chash;
            t_now := t_now || p_now[i];
            l_id := l_id || p_lot[i]; l_comm := l_comm || v_comm; l_account := l_account || m_acc[i];
            l_entry := l_entry || p_credit_entry[i]; l_points := l_points || v_points;
            l_expires := l_expires || v_expires;
            a_id := a_id || m_acc[i]; a_points := a_points || v_points; a_hash := a_hash || v_credit_hash;
            v_total := v_total + v_points;
            v_count := v_count + 1;
            posted := posted || i;
        END LOOP;
        IF v_count > 0 THEN
            sh_id := sh_id || shard.id; sh_total := sh_total || v_total; sh_count := sh_count || v_count;
            sh_hash := sh_hash || v_prev;
        END IF;
    END LOOP;
    FOREACH i IN ARRAY fin LOOP
        CONTINUE WHEN f_status[i] IS NULL;
        u_id := u_id || (f_att[i]).id; u_out := u_out || f_out[i]; u_minutes := u_minutes || f_minutes[i];
        u_points := u_points || f_points[i]; u_status := u_status || f_status[i];
    END LOOP;

    -- 6. The writes: one statement per table, all or nothing.
    BEGIN
        FOR r IN
            UPDATE attendances x SET checked_out_at = u.out_at, minutes = u.minutes, points = u.points,
                                     status = u.status
              FROM unnest(u_id, u_out, u_minutes, u_points, u_status) AS u(id, out_at, minutes, points, status)
             WHERE x.id = u.id
            RETURNING x AS row
        LOOP
            upd := upd || r.row;
        END LOOP;
        IF cardinality(t_id) > 0 THEN
            INSERT INTO ledger_transfers (id, community_id, points, code, memo, ref_type, ref_id, actor_id,
                                          idempotency_key, content_hash, reverses_id, created_at)
            SELECT t.id, t.comm, t.points, 'checkin', t.memo, 'attendance', t.ref, t.actor, t.key, t.chash,
                   NULL, t.now
              FROM unnest(t_id, t_comm, t_points, t_memo, t_ref, t_actor, t_key, t_chash, t_now)
                   AS t(id, comm, points, memo, ref, actor, key, chash, now);
            INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash,
                                        expires_at, created_at)
            SELECT * FROM unnest(e_id, e_comm, e_transfer, e_account, e_points, e_seq, e_prev, e_hash,
                                 e_expires, e_now);
            INSERT INTO ledger_lots (id, community_id, account_id, entry_id, points, remaining, expires_at)
            SELECT l.id, l.comm, l.account, l.entry, l.points, l.points, l.expires
              FROM unnest(l_id, l_comm, l_account, l_entry, l_points, l_expires)
                   AS l(id, comm, account, entry, points, expires);
            UPDATE ledger_accounts a SET balance = a.balance + u.points, earned = a.earned + u.points,
                                         entry_count = a.entry_count + 1, last_hash = u.hash,
                                         version = a.version + 1
              FROM unnest(a_id, a_points, a_hash) AS u(id, points, hash)
             WHERE a.id = u.id;
            UPDATE ledger_accounts a SET balance = a.balance - u.total, entry_count = a.entry_count + u.count,
                                         last_hash = u.hash, version = a.version + u.count
              FROM unnest(sh_id, sh_total, sh_count, sh_hash) AS u(id, total, count, hash)
             WHERE a.id = u.id;
        END IF;
    EXCEPTION WHEN OTHERS THEN  -- nothing of the check-outs was written: each takes the ordinary path
        GET STACKED DIAGNOSTICS v_detail = RETURNED_SQLSTATE;
        FOREACH i IN ARRAY fin LOOP
            CONTINUE WHEN f_status[i] IS NULL;
            o_idx := i; o_outcome := 'slow'; o_att := NULL; o_awarded := 0; o_detail := v_detail || ' ' || SQLERRM;
            RETURN NEXT;
        END LOOP;
        RETURN;
    END;
    FOR k IN 1 .. coalesce(array_length(upd, 1), 0) LOOP
        att := upd[k];
        FOREACH i IN ARRAY fin LOOP
            CONTINUE WHEN f_status[i] IS NULL OR (f_att[i]).id <> att.id;
            o_idx := i; o_outcome := 'checked_out'; o_att := att; o_detail := NULL;
            o_awarded := CASE WHEN i = ANY(posted) THEN f_points[i] ELSE 0 END;
            o_name := s_name[i]; o_phone := s_phone[i]; o_admin := s_admin[i]; o_version := s_version[i];
            RETURN NEXT;
        END LOOP;
    END LOOP;
END;
$$
"""


REDEEM_BATCH = """
CREATE OR REPLACE FUNCTION store_redeem_batch(
    p_code text[], p_actor uuid[], p_admin boolean[], p_now timestamptz[], p_transfer uuid[],
    p_debit_entry uuid[], p_credit_entry uuid[], p_lot uuid[]
) RETURNS TABLE (o_idx int, o_outcome text, o_voucher vouchers, o_offer offers, o_member_name text,
                 o_shop_name text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_code, 1), 0);
    r record;
    i int;
    k int;
    ks int;
    kd int;
    v vouchers%ROWTYPE;
    h ledger_holds%ROWTYPE;
    found_voucher uuid[];
    answered boolean[];
    g_voucher vouchers[];
    g_hold ledger_holds[];
    go int[] := '{}';
    seen uuid[] := '{}';
    ids uuid[] := '{}';
    acc uuid[] := '{}'; acc_prev text[] := '{}'; acc_seq bigint[] := '{}'; acc_kind text[] := '{}';
    acc_comm uuid[] := '{}'; acc_out bigint[] := '{}'; acc_in bigint[] := '{}'; acc_n bigint[] := '{}';
    t_id uuid[] := '{}'; t_comm uuid[] := '{}'; t_points bigint[] := '{}'; t_code text[] := '{}';
    t_memo text[] := '{}'; t_ref_type text[] := '{}'; t_ref_id text[] := '{}'; t_actor uuid[] := '{}';
    t_chash text[] := '{}'; t_now timestamptz[] := '{}';
    e_id uuid[] := '{}'; e_comm uuid[] := '{}'; e_transfer uuid[] := '{}'; e_account uuid[] := '{}';
    e_points bigint[] := '{}'; e_seq bigint[] := '{}'; e_prev text[] := '{}'; e_hash text[] := '{}';
    e_now timestamptz[] := '{}';
    h_id uuid[] := '{}'; h_transfer uuid[] := '{}'; h_now timestamptz[] := '{}';
    v_id uuid[] := '{}'; v_now timestamptz[] := '{}'; v_actor uuid[] := '{}';
    c_acc uuid[] := '{}'; c_total bigint[] := '{}';
    v_legs text;
    v_chash text;
    v_hash text;
    v_taken bigint;
    v_need bigint;
    v_detail text;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    answered := array_fill(false, ARRAY[n]);
    -- 1. Each code's voucher the caller is staff for (the first by id, as store_redeem_voucher).
    FOR r IN
        SELECT s.i::int AS i,
               (SELECT x.id FROM vouchers x
                 WHERE x.code = s.code AND (s.admin OR EXISTS (
                     SELECT 1 FROM memberships m
                      WHERE m.community_id = x.community_id AND m.member_id = s.actor
                        AND (m.role = 'admin' OR (m.role = 'partner' AND m.partner_id = x.partner_id))))
                 ORDER BY x.id LIMIT 1) AS voucher_id
          FROM unnest(p_code, p_actor, p_admin) WITH ORDINALITY AS s(code, actor, admin, i)
    LOOP
        found_voucher[r.i] := r.voucher_id;
    END LOOP;
    -- 2. The vouchers and their holds, locked in voucher id order (as the ordinary path: voucher, hold).
    FOR r IN
        SELECT s.i, x AS vrow, hh AS hrow
          FROM unnest(found_voucher) WITH ORDINALITY AS s(vid, i)
          JOIN vouchers x ON x.id = s.vid
          JOIN ledger_holds hh ON hh.id = x.hold_id
         ORDER BY x.id, s.i
           FOR NO KEY UPDATE OF x, hh
    LOOP
        i := r.i;
        v := r.vrow;
        h := r.hrow;
        IF v.id = ANY(seen) OR v.status <> 'issued' OR v.expires_at <= p_now[i] OR h.status <> 'pending'
           OR h.expires_at <= p_now[i] OR h.points <= 0 THEN
            CONTINUE;  -- answered below as the ordinary path's (which gives the refusal its code)
        END IF;
        seen := seen || v.id;
        g_voucher[i] := v;
        g_hold[i] := h;
        go := go || i;
        ids := ids || h.account_id || h.payee_account_id;
    END LOOP;
    -- 3. The members' and the shops' accounts, locked in id order.
    FOR r IN
        SELECT a.id, a.last_hash, a.entry_count, a.kind, a.community_id FROM ledger_accounts a
         WHERE a.id = ANY(ids) ORDER BY a.id FOR NO KEY UPDATE
    LOOP
        acc := acc || r.id; acc_prev := acc_prev || coalesce(nullif(r.last_hash, ''), repeat('0', 64));
        acc_seq := acc_seq || r.entry_count; acc_kind := acc_kind || r.kind::text;
        acc_comm := acc_comm || r.community_id;
        acc_out := acc_out || 0::bigint; acc_in := acc_in || 0::bigint; acc_n := acc_n || 0::bigint;
    END LOOP;
    -- 4. Each posting chained in order (a member or a shop may post more than once in a batch).
    FOREACH i IN ARRAY go LOOP
        h := g_hold[i];
        ks := array_position(acc, h.account_id);
        kd := array_position(acc, h.payee_account_id);
        IF ks IS NULL OR kd IS NULL OR acc_kind[ks] <> 'member' OR acc_kind[kd] IN ('member', 'issuance', 'expired')
           OR acc_comm[ks] <> h.community_id OR acc_comm[kd] <> h.community_id THEN
            g_hold[i] := NULL;
            CONTINUE;
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
        t_id := t_id || p_transfer[i]; t_comm := t_comm || h.community_id; t_points := t_points || h.points;
        t_code := t_code || h.code; t_memo := t_memo || h.memo; t_ref_type := t_ref_type || h.ref_type;
        t_ref_id := t_ref_id || h.ref_id; t_actor := t_actor || p_actor[i]; t_chash := t_chash || v_chash;
        t_now := t_now || p_now[i];
        FOR k IN 1 .. 2 LOOP  -- the member's debit, then the shop's credit
            IF k = 1 THEN ks := array_position(acc, h.account_id); ELSE ks := kd; END IF;
            acc_seq[ks] := acc_seq[ks] + 1;
            v_hash := ledger_entry_hash(acc_prev[ks], CASE WHEN k = 1 THEN p_debit_entry[i] ELSE p_credit_entry[i] END,
                h.community_id, p_transfer[i], acc[ks], CASE WHEN k = 1 THEN -h.points ELSE h.points END,
                acc_seq[ks], NULL, p_now[i]);
            e_id := e_id || CASE WHEN k = 1 THEN p_debit_entry[i] ELSE p_credit_entry[i] END;
            e_comm := e_comm || h.community_id; e_transfer := e_transfer || p_transfer[i];
            e_account := e_account || acc[ks]; e_points := e_points || CASE WHEN k = 1 THEN -h.points ELSE h.points END;
            e_seq := e_seq || acc_seq[ks]; e_prev := e_prev || acc_prev[ks]; e_hash := e_hash || v_hash;
            e_now := e_now || p_now[i];
            acc_prev[ks] := v_hash;
            acc_n[ks] := acc_n[ks] + 1;
            IF k = 1 THEN acc_out[ks] := acc_out[ks] + h.points; ELSE acc_in[ks] := acc_in[ks] + h.points; END IF;
        END LOOP;
        h_id := h_id || h.id; h_transfer := h_transfer || p_transfer[i]; h_now := h_now || p_now[i];
        v_id := v_id || (g_voucher[i]).id; v_now := v_now || p_now[i]; v_actor := v_actor || p_actor[i];
    END LOOP;
    FOR k IN 1 .. coalesce(array_length(acc, 1), 0) LOOP
        IF acc_out[k] > 0 THEN
            c_acc := c_acc || acc[k]; c_total := c_total || acc_out[k];
        END IF;
    END LOOP;
    -- 5. The writes, one statement per table, all or nothing.
    IF cardinality(h_id) > 0 THEN
        BEGIN
            UPDATE vouchers x SET status = 'redeemed', redeemed_at = u.now, redeemed_by = u.actor
              FROM unnest(v_id, v_now, v_actor) AS u(id, now, actor) WHERE x.id = u.id;
            INSERT INTO ledger_transfers (id, community_id, points, code, memo, ref_type, ref_id, actor_id,
                                          idempotency_key, content_hash, reverses_id, created_at)
            SELECT t.id, t.comm, t.points, t.code, t.memo, t.ref_type, t.ref_id, t.actor, NULL, t.chash, NULL, t.now
              FROM unnest(t_id, t_comm, t_points, t_code, t_memo, t_ref_type, t_ref_id, t_actor, t_chash, t_now)
                   AS t(id, comm, points, code, memo, ref_type, ref_id, actor, chash, now);
            INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash,
                                        expires_at, created_at)
            SELECT e.id, e.comm, e.transfer, e.account, e.points, e.seq, e.prev, e.hash, NULL, e.now
              FROM unnest(e_id, e_comm, e_transfer, e_account, e_points, e_seq, e_prev, e_hash, e_now)
                   AS e(id, comm, transfer, account, points, seq, prev, hash, now);
            UPDATE ledger_holds x SET status = 'posted', transfer_id = u.transfer, resolved_at = u.now
              FROM unnest(h_id, h_transfer, h_now) AS u(id, transfer, now) WHERE x.id = u.id;
            -- the members' lots, oldest-expiring first (never-expiring last), as ledger_post spends them
            WITH need AS (SELECT * FROM unnest(c_acc, c_total) AS c(acc, total)),
            lots AS (
                SELECT l.id, l.remaining, need.total,
                       sum(l.remaining) OVER (PARTITION BY l.account_id
                                              ORDER BY l.expires_at ASC NULLS LAST, l.id
                                              ROWS UNBOUNDED PRECEDING) - l.remaining AS before
                  FROM ledger_lots l JOIN need ON l.account_id = need.acc
                 WHERE l.remaining > 0),
            took AS (
                UPDATE ledger_lots l SET remaining = l.remaining - least(lots.remaining, lots.total - lots.before)
                  FROM lots WHERE l.id = lots.id AND lots.before < lots.total
                RETURNING least(lots.remaining, lots.total - lots.before) AS take)
            SELECT coalesce(sum(take), 0) INTO v_taken FROM took;
            SELECT coalesce(sum(x), 0) INTO v_need FROM unnest(c_total) AS x;
            IF v_taken <> v_need THEN
                RAISE EXCEPTION 'store_redeem_batch: lots hold % points less than the holds', v_need - v_taken;
            END IF;
            UPDATE ledger_accounts a SET
                balance = a.balance - u.spent + u.paid,
                held = a.held - u.spent,
                spent = a.spent + CASE WHEN a.kind = 'member' THEN u.spent ELSE 0 END,
                entry_count = a.entry_count + u.n, last_hash = u.hash, version = a.version + u.n
              FROM unnest(acc, acc_out, acc_in, acc_n, acc_prev) AS u(id, spent, paid, n, hash)
             WHERE a.id = u.id AND u.n > 0;
        EXCEPTION WHEN OTHERS THEN  -- nothing was written: each takes the ordinary path
            GET STACKED DIAGNOSTICS v_detail = RETURNED_SQLSTATE;
            go := '{}';
        END;
    END IF;
    -- 6. The answers: the redeemed voucher, its offer, the member's and the shop's names; the rest take the ordinary path.
    FOR r IN
        SELECT s.i::int AS i, x AS vrow, f AS frow, m.name, p.name AS shop
          FROM unnest(go) AS s(i)
          JOIN vouchers x ON x.id = (g_voucher[s.i]).id
          JOIN offers f ON f.id = x.offer_id
          JOIN members m ON m.id = x.member_id
          LEFT JOIN partners p ON p.id = x.partner_id
         WHERE (g_hold[s.i]).id IS NOT NULL
    LOOP
        o_idx := r.i; o_outcome := 'ok'; o_voucher := r.vrow; o_offer := r.frow; o_member_name := r.name;
        o_shop_name := r.shop;
        answered[r.i] := true;
        RETURN NEXT;
    END LOOP;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN answered[i];
        o_idx := i; o_outcome := 'slow'; o_voucher := NULL; o_offer := NULL; o_member_name := NULL;
        o_shop_name := NULL;
        RETURN NEXT;
    END LOOP;
END;
$$
"""

RESERVE_BATCH = """
CREATE OR REPLACE FUNCTION store_reserve_batch(
    p_product uuid[], p_actor uuid[], p_admin boolean[], p_quantity int[], p_quantity_max int[],
    p_now timestamptz[], p_order uuid[], p_code text[], p_hold uuid[], p_days_default int[],
    p_grace interval[], p_hold_max interval[]
) RETURNS TABLE (o_idx int, o_outcome text, o_order orders, o_product_name text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_product, 1), 0);
    r record;
    i int;
    kp int;
    ku int;
    ka int;
    answered boolean[];
    cand int[] := '{}';
    s_src uuid[]; s_dst uuid[]; s_comm uuid[]; s_name text[]; s_days int[]; s_zone text[];
    prod uuid[] := '{}'; prod_stock bigint[] := '{}'; prod_price bigint[] := '{}'; prod_limit int[] := '{}';
    prod_active boolean[] := '{}'; prod_take bigint[] := '{}';
    used_key text[] := '{}'; used_qty bigint[] := '{}';
    acc uuid[] := '{}'; acc_free bigint[] := '{}'; acc_add bigint[] := '{}'; acc_n bigint[] := '{}';
    ok int[] := '{}';
    h_id uuid[] := '{}'; h_comm uuid[] := '{}'; h_src uuid[] := '{}'; h_dst uuid[] := '{}';
    h_points bigint[] := '{}'; h_expires timestamptz[] := '{}'; h_memo text[] := '{}'; h_ref text[] := '{}';
    h_actor uuid[] := '{}'; h_key text[] := '{}'; h_chash text[] := '{}'; h_now timestamptz[] := '{}';
    w_id uuid[] := '{}'; w_comm uuid[] := '{}'; w_product uuid[] := '{}'; w_member uuid[] := '{}';
    w_quantity int[] := '{}'; w_points bigint[] := '{}'; w_code text[] := '{}'; w_hold uuid[] := '{}';
    w_expires timestamptz[] := '{}'; w_now timestamptz[] := '{}';
    done orders[] := '{}';
    v_used bigint;
    v_expires timestamptz;
    v_hold_expires timestamptz;
    v_total bigint;
    v_memo text;
    v_legs text;
    v_chash text;
    v_row orders;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    answered := array_fill(false, ARRAY[n]);
    -- 1. Per order, one query: the product (on sale, a quantity in range), the caller's role in its
    --    community, the member's and the store's accounts, the shop's order days and time zone.
    FOR r IN
        SELECT s.i::int AS i, pr.community_id AS comm, pr.name,
               coalesce(pr.active AND (pr.available_from IS NULL OR pr.available_from <= s.now)
                   AND (pr.available_until IS NULL OR pr.available_until > s.now)
                   AND s.q BETWEEN 1 AND s.qmax
                   AND (s.admin OR EXISTS (
                       SELECT 1 FROM memberships m WHERE m.community_id = pr.community_id
                          AND m.member_id = s.actor AND m.role IN ('member', 'admin'))), false) AS fine,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = pr.community_id AND a.owner_key = 'member:' || s.actor::text) AS src,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = pr.community_id AND a.owner_key = 'store') AS dst,
               (SELECT st.order_days FROM store_settings st WHERE st.community_id = pr.community_id) AS days,
               (SELECT c.timezone FROM communities c WHERE c.id = pr.community_id) AS zone
          FROM unnest(p_product, p_actor, p_admin, p_quantity, p_quantity_max, p_now)
               WITH ORDINALITY AS s(pid, actor, admin, q, qmax, now, i)
          LEFT JOIN products pr ON pr.id = s.pid
    LOOP
        CONTINUE WHEN NOT r.fine OR r.src IS NULL OR r.dst IS NULL;  -- the ordinary path gives the code
        s_src[r.i] := r.src; s_dst[r.i] := r.dst; s_comm[r.i] := r.comm; s_name[r.i] := r.name;
        s_days[r.i] := r.days; s_zone[r.i] := coalesce(r.zone, 'Asia/Shanghai');
        cand := cand || r.i;
    END LOOP;
    -- 2. The products, locked in id order (the ordinary path's conditional UPDATE takes the same lock).
    FOR r IN
        SELECT pr.id, pr.stock, pr.points, pr.limit_per_member, pr.active FROM products pr
         WHERE pr.id = ANY(ARRAY(SELECT p_product[c] FROM unnest(cand) AS c))
         ORDER BY pr.id
           FOR NO KEY UPDATE
    LOOP
        prod := prod || r.id; prod_stock := prod_stock || r.stock::bigint; prod_price := prod_price || r.points::bigint;
        prod_limit := prod_limit || r.limit_per_member; prod_active := prod_active || r.active;
        prod_take := prod_take || 0::bigint;
    END LOOP;
    -- 3. What each member ordered of a limited product this month (in the community's time zone).
    FOR r IN
        WITH pairs AS (
            SELECT p_actor[c] AS member, p_product[c] AS product, min(s_zone[c]) AS zone, min(p_now[c]) AS now
              FROM unnest(cand) AS c
             WHERE prod_limit[array_position(prod, p_product[c])] IS NOT NULL
             GROUP BY 1, 2)
        SELECT pairs.member, pairs.product, coalesce(sum(x.quantity), 0) AS q
          FROM pairs JOIN orders x ON x.member_id = pairs.member AND x.product_id = pairs.product
         WHERE x.status IN ('reserved', 'fulfilled')
           AND x.created_at >= (date_trunc('month', pairs.now AT TIME ZONE pairs.zone) AT TIME ZONE pairs.zone)
         GROUP BY 1, 2
    LOOP
        used_key := used_key || (r.member::text || r.product::text); used_qty := used_qty || r.q::bigint;
    END LOOP;
    -- 4. The members' accounts, locked in id order (after the products, as on the ordinary path).
    FOR r IN
        SELECT a.id, a.balance - a.held AS free FROM ledger_accounts a
         WHERE a.id = ANY(ARRAY(SELECT s_src[c] FROM unnest(cand) AS c))
         ORDER BY a.id
           FOR NO KEY UPDATE
    LOOP
        acc := acc || r.id; acc_free := acc_free || r.free; acc_add := acc_add || 0::bigint;
        acc_n := acc_n || 0::bigint;
    END LOOP;
    -- 5. Each order in arrival order, against what the batch took before it: stock, the monthly
    --    limit, the hold's lifetime, the member's free points. A refused one takes nothing.
    FOREACH i IN ARRAY cand LOOP
        kp := array_position(prod, p_product[i]);
        CONTINUE WHEN kp IS NULL OR NOT prod_active[kp] OR prod_stock[kp] - prod_take[kp] < p_quantity[i];
        ku := array_position(used_key, p_actor[i]::text || p_product[i]::text);
        IF prod_limit[kp] IS NOT NULL THEN
            v_used := CASE WHEN ku IS NULL THEN 0 ELSE used_qty[ku] END;
            CONTINUE WHEN v_used + p_quantity[i] > prod_limit[kp];
        END IF;
        v_expires := p_now[i] + make_interval(days => coalesce(nullif(s_days[i], 0), p_days_default[i]));
        v_hold_expires := v_expires + p_grace[i];
        CONTINUE WHEN v_hold_expires > p_now[i] + p_hold_max[i];
        v_total := prod_price[kp] * p_quantity[i];
        ka := array_position(acc, s_src[i]);
        CONTINUE WHEN v_total <= 0 OR ka IS NULL OR acc_free[ka] - acc_add[ka] < v_total;
        prod_take[kp] := prod_take[kp] + p_quantity[i];
        IF ku IS NULL THEN
            used_key := used_key || (p_actor[i]::text || p_product[i]::text); used_qty := used_qty || p_quantity[i]::bigint;
        ELSE
            used_qty[ku] := used_qty[ku] + p_quantity[i];
        END IF;
        acc_add[ka] := acc_add[ka] + v_total;
        acc_n[ka] := acc_n[ka] + 1;
        v_memo := regexp_replace(left(s_name[i] || ' x' || p_quantity[i]::text, 200),
                                 '^[[:space:]]+|[[:space:]]+$', '', 'g');
        IF s_src[i]::text COLLATE "C" < s_dst[i]::text COLLATE "C" THEN
            v_legs := '[["' || s_src[i]::text || '", ' || (-v_total)::text || '], ["' || s_dst[i]::text || '", '
                      || v_total::text || ']]';
        ELSE
            v_legs := '[["' || s_dst[i]::text || '", ' || v_total::text || '], ["' || s_src[i]::text || '", '
                      || (-v_total)::text || ']]';
        END IF;
        -- rules.content_hash("hold", ...) as points.hold computes it for reserve_order
        v_chash := encode(sha256(convert_to(
            '{"code": "order", "extra": "", "legs": ' || v_legs || ', "memo": ' || to_json(v_memo)::text
            || ', "op": "hold", "ref_id": "' || p_order[i]::text || '", "ref_type": "order"}', 'UTF8')), 'hex');
        h_id := h_id || p_hold[i]; h_comm := h_comm || s_comm[i]; h_src := h_src || s_src[i];
        h_dst := h_dst || s_dst[i]; h_points := h_points || v_total; h_expires := h_expires || v_hold_expires;
        h_memo := h_memo || v_memo; h_ref := h_ref || p_order[i]::text; h_actor := h_actor || p_actor[i];
        h_key := h_key || ('order:' || p_order[i]::text); h_chash := h_chash || v_chash; h_now := h_now || p_now[i];
        w_id := w_id || p_order[i]; w_comm := w_comm || s_comm[i]; w_product := w_product || p_product[i];
        w_member := w_member || p_actor[i]; w_quantity := w_quantity || p_quantity[i];
        w_points := w_points || v_total; w_code := w_code || p_code[i]; w_hold := w_hold || p_hold[i];
        w_expires := w_expires || v_expires; w_now := w_now || p_now[i];
        ok := ok || i;
    END LOOP;
    -- 6. The writes, one statement per table, all or nothing.
    IF cardinality(ok) > 0 THEN
        BEGIN
            UPDATE products pr SET stock = pr.stock - u.take
              FROM unnest(prod, prod_take) AS u(id, take) WHERE pr.id = u.id AND u.take > 0;
            INSERT INTO ledger_holds (id, community_id, account_id, payee_account_id, points, status, expires_at,
                                      code, memo, ref_type, ref_id, actor_id, idempotency_key, content_hash,
                                      transfer_id, resolved_at, reason, created_at)
            SELECT h.id, h.comm, h.src, h.dst, h.points, 'pending', h.expires, 'order', h.memo, 'order', h.ref,
                   h.actor, h.key, h.chash, NULL, NULL, '', h.now
              FROM unnest(h_id, h_comm, h_src, h_dst, h_points, h_expires, h_memo, h_ref, h_actor, h_key,
                          h_chash, h_now) AS h(id, comm, src, dst, points, expires, memo, ref, actor, key, chash, now);
            UPDATE ledger_accounts a SET held = a.held + u.add, version = a.version + u.n
              FROM unnest(acc, acc_add, acc_n) AS u(id, add, n) WHERE a.id = u.id AND u.n > 0;
            FOR r IN
                INSERT INTO orders (id, community_id, product_id, member_id, quantity, points, status, pickup_code,
                                    hold_id, expires_at, closed_at, closed_by, created_at)
                SELECT w.id, w.comm, w.product, w.member, w.quantity, w.points, 'reserved', w.code, w.hold,
                       w.expires, NULL, NULL, w.now
                  FROM unnest(w_id, w_comm, w_product, w_member, w_quantity, w_points, w_code, w_hold, w_expires,
                              w_now) AS w(id, comm, product, member, quantity, points, code, hold, expires, now)
                RETURNING orders AS row
            LOOP
                done := done || r.row;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN  -- nothing was written (a pickup code taken meanwhile...): ordinary path
            done := '{}';
        END;
    END IF;
    FOREACH v_row IN ARRAY done LOOP
        i := array_position(p_order, v_row.id);
        o_idx := i; o_outcome := 'ok'; o_order := v_row; o_product_name := s_name[i];
        answered[i] := true;
        RETURN NEXT;
    END LOOP;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN answered[i];
        o_idx := i; o_outcome := 'slow'; o_order := NULL; o_product_name := NULL;
        RETURN NEXT;
    END LOOP;
END;
$$
"""

RESERVE_SIGNATURE = (
    "store_reserve_batch(uuid[], uuid[], boolean[], int[], int[], timestamptz[], uuid[], text[], uuid[], int[],"
    " interval[], interval[])"
)
REDEEM_SIGNATURE = "store_redeem_batch(text[], uuid[], boolean[], timestamptz[], uuid[], uuid[], uuid[], uuid[])"
SIGNATURE = (
    "jifen_scan_batch(uuid[], int[], uuid[], text[], text[], timestamptz[], text[], boolean[], text[],"
    " timestamptz[], uuid[], uuid[], uuid[], uuid[], uuid[], int, int, bigint)"
)


def _previous() -> str:
    """Migration 0014's function text (the downgrade puts it back)."""
    path = Path(__file__).with_name("0014_scan_batch.py")
    spec = importlib.util.spec_from_file_location("jifen_migration_0014", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot read {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.SCAN_BATCH)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer, the one-hop first scan (service/activities/fastpath.py)
    op.execute(SCAN_BATCH)
    op.execute(REDEEM_BATCH)
    op.execute(RESERVE_BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {REDEEM_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {RESERVE_SIGNATURE}")
    op.execute(_previous())
