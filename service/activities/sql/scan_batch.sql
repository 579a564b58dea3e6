-- Check-in and check-out in batches (PostgreSQL). Installed by service/dbcode.py after the migrations;
-- edit here, never in a migration. The Python twins (service/activities/rules.py minutes_inside and
-- points_for) are held equal to these by tests/integration/test_parity.py.
--
--   activity_minutes / activity_points   points for an attendance: rules.minutes_inside, rules.points_for
--   jifen_activity_fingerprint           every column a worker's in-memory scan checks read
--   jifen_scan_batch                     one worker's batch of scans in one call (group commit)

-- Whole minutes of presence inside the activity's window (rules.minutes_inside).
CREATE OR REPLACE FUNCTION activity_minutes(
    p_in timestamptz, p_out timestamptz, p_starts timestamptz, p_ends timestamptz
) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN least(p_out, p_ends) <= greatest(p_in, p_starts) THEN 0
        ELSE floor(extract(epoch FROM least(p_out, p_ends) - greatest(p_in, p_starts)) / 60)::int END
$$;

-- Points for one attendance: flat, or pro rata per hour by minutes (rounded down), capped (rules.points_for).
CREATE OR REPLACE FUNCTION activity_points(p_mode text, p_rate int, p_max int, p_minutes int)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(0, least(
        CASE WHEN p_mode = 'per_attendance' THEN p_rate::bigint ELSE (p_rate::bigint * p_minutes) / 60 END,
        coalesce(p_max::bigint, 9223372036854775807)))
$$;

CREATE OR REPLACE FUNCTION jifen_activity_fingerprint(a activities) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT md5(ROW(a.community_id, a.title, ledger_utc_text(a.starts_at), ledger_utc_text(a.ends_at), a.lat,
        a.lng, a.radius_m, a.capacity, a.signup_required, a.points_mode, a.points, a.points_max, a.status,
        a.secret, a.poster_version, a.created_by)::text)
$$;


-- One worker's batch of scans (arrays, one element per scan), one row answered per scan.
-- 1. Every scan re-checked by ONE query (token version, the activity's fingerprint, roles).
-- 2. First scans inserted by one INSERT ... SELECT ... ON CONFLICT DO NOTHING.
-- 3. Check-outs: the attendances locked in id order and decided in memory (too soon, not checked in,
--    pending an organizer's confirmation, points).
-- 4. The members' ledger accounts locked in id order, then
-- 5. ONE issuance shard per community that no other batch holds (FOR NO KEY UPDATE SKIP LOCKED),
-- 6. the writes: attendances in one statement, the postings by ledger_write (the same rows as
--    ledger_post), all or nothing: if anything fails, each check-out takes the ordinary path.
-- A scan it cannot answer comes back 'slow' with nothing of it written; the ordinary path in
-- service/activities/service.py gives a refusal its code.
CREATE OR REPLACE FUNCTION jifen_scan_batch(
    p_member uuid[], p_version int[], p_activity uuid[], p_fingerprint text[], p_evidence text[],
    p_moment timestamptz[], p_device text[], p_plain boolean[], p_memo text[], p_now timestamptz[],
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
    post int[] := '{}';
    m_acc uuid[];
    seen_att uuid[] := '{}';
    seen_member uuid[] := '{}';
    -- the writes, as arrays (one element per row)
    fin int[] := '{}';
    posted int[] := '{}';
    u_id uuid[] := '{}'; u_out timestamptz[] := '{}'; u_minutes int[] := '{}'; u_points bigint[] := '{}';
    u_status text[] := '{}';
    -- the postings, as ledger_write takes them
    t_id uuid[] := '{}'; t_comm uuid[] := '{}'; t_debit uuid[] := '{}'; t_credit uuid[] := '{}';
    t_points bigint[] := '{}'; t_memo text[] := '{}'; t_ref text[] := '{}'; t_actor uuid[] := '{}';
    t_key text[] := '{}'; t_chash text[] := '{}'; t_now timestamptz[] := '{}'; t_debit_entry uuid[] := '{}';
    t_credit_entry uuid[] := '{}'; t_lot uuid[] := '{}';
    done attendances[];
    upd attendances[] := '{}';
    shard_keys text[];
    shard ledger_accounts%ROWTYPE;
    v_comm uuid;
    v_chash text;
    v_key text;
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
            -- The activities of the attendances just inserted, key-share locked in id order, then read
            -- again. A close locks its activity (FOR UPDATE) before it reads who is still in: a close
            -- that came first is waited for and then seen closed here (the inserts are undone and each
            -- scan takes the ordinary path, which refuses it); a close that comes after waits for this
            -- batch and then checks out and pays what it inserted. No scan is answered "checked in" and
            -- then forgotten on a closed activity. Check-outs need no such lock: they and a close meet
            -- on the attendance's own row lock. (A row value IS NULL only when all its fields are.)
            PERFORM 1 FROM activities a
             WHERE a.id IN (SELECT p_activity[x] FROM unnest(ins) AS x WHERE NOT (done[x] IS NULL))
             ORDER BY a.id FOR KEY SHARE;
            IF EXISTS (SELECT 1 FROM activities a
                        WHERE a.id IN (SELECT p_activity[x] FROM unnest(ins) AS x WHERE NOT (done[x] IS NULL))
                          AND a.status <> 'open') THEN
                RAISE EXCEPTION 'jifen_scan_batch: an activity was closed meanwhile';
            END IF;
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
        v_minutes := activity_minutes(att.checked_in_at, v_out, r.starts_at, r.ends_at);
        v_points := activity_points(r.points_mode, r.rate, r.points_max, v_minutes);
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
            SELECT s.i, a.id
              FROM unnest(post) AS s(i)
              JOIN ledger_accounts a
                ON a.community_id = s_comm[s.i] AND a.owner_key = 'member:' || p_member[s.i]::text
             ORDER BY a.id
               FOR NO KEY UPDATE OF a
        LOOP
            m_acc[r.i] := r.id;
        END LOOP;
    END IF;
    shard_keys := ARRAY(SELECT CASE WHEN g = 0 THEN 'issuance' ELSE 'issuance:' || g END
                          FROM generate_series(0, p_shards - 1) AS g);


    -- 5. Per community: one issuance shard no other batch holds; each check-out's posting from it.
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
        FOREACH i IN ARRAY post LOOP
            CONTINUE WHEN s_comm[i] <> v_comm;
            IF shard.id IS NULL OR m_acc[i] IS NULL THEN
                o_idx := i; o_outcome := 'slow'; o_att := NULL; o_awarded := 0;
                o_detail := 'account not created yet'; RETURN NEXT;
                f_status[i] := NULL;
                CONTINUE;
            END IF;
            att := f_att[i];
            -- what points.award posts for an attendance: key, code, memo, reference, content hash
            t_id := t_id || p_transfer[i]; t_comm := t_comm || v_comm; t_debit := t_debit || shard.id;
            t_credit := t_credit || m_acc[i]; t_points := t_points || f_points[i]; t_memo := t_memo || p_memo[i];
            t_ref := t_ref || att.id::text; t_actor := t_actor || att.member_id;
            t_key := t_key || ('attendance:' || att.id::text);
            t_chash := t_chash || ledger_content_hash('transfer', shard.id, m_acc[i], f_points[i], 'checkin',
                                                      p_memo[i], 'attendance', att.id::text);
            t_now := t_now || p_now[i]; t_debit_entry := t_debit_entry || p_debit_entry[i];
            t_credit_entry := t_credit_entry || p_credit_entry[i]; t_lot := t_lot || p_lot[i];
            posted := posted || i;
        END LOOP;
    END LOOP;
    FOREACH i IN ARRAY fin LOOP
        CONTINUE WHEN f_status[i] IS NULL;
        u_id := u_id || (f_att[i]).id; u_out := u_out || f_out[i]; u_minutes := u_minutes || f_minutes[i];
        u_points := u_points || f_points[i]; u_status := u_status || f_status[i];
    END LOOP;

    -- 6. The writes: the attendances in one statement, the postings by ledger_write; all or nothing.
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
        IF ledger_write(t_id, t_comm, t_debit, t_credit, t_points,
                        array_fill('checkin'::text, ARRAY[cardinality(t_id)]), t_memo,
                        array_fill('attendance'::text, ARRAY[cardinality(t_id)]), t_ref, t_actor, t_key, t_chash,
                        array_fill(NULL::uuid, ARRAY[cardinality(t_id)]),
                        array_fill(NULL::uuid, ARRAY[cardinality(t_id)]), t_now, t_debit_entry, t_credit_entry,
                        t_lot) <> cardinality(t_id) THEN
            RAISE EXCEPTION 'jifen_scan_batch: an attendance was posted meanwhile';
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
$$;
