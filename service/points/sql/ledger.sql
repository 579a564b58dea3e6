-- The ledger's database code (PostgreSQL). Installed by service/dbcode.py after the migrations; edit
-- here, never in a migration. Each rule is written once; the Python twins (service/points/rules.py,
-- service/points/ledger.py) are held equal to these by tests/integration/test_parity.py.
--
--   ledger_utc_text      a time as the hashes spell it (UTC, microseconds)
--   ledger_entry_hash    the chain step: rules.entry_hash
--   ledger_content_hash  what a transfer or hold asked for: rules.content_hash (two legs)
--   ledger_lot_expiry    when a member's new lot expires: rules.expiry_for
--   ledger_spend_lots    lots spent oldest-expiring first, never-expiring last
--   ledger_write         the rows of a batch of transfers (entries, lots, totals, chain heads, holds)
--                        and the issuance budget (raises SQLSTATE JB001 when a month's budget is spent)
--   ledger_write_holds   the rows of a batch of holds
--   ledger_post / ledger_hold / ledger_release   one call each: lock, check, write
--   jifen_append_only    the trigger that refuses UPDATE and DELETE of entries (and audit events)

CREATE OR REPLACE FUNCTION ledger_utc_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN t IS NULL THEN ''
        ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

-- SHA-256 over prev|entry|community|transfer|account|points|seq|expires|created (rules.entry_hash).
CREATE OR REPLACE FUNCTION ledger_entry_hash(
    prev text, entry_id uuid, community_id uuid, transfer_id uuid, account_id uuid,
    points bigint, seq bigint, expires_at timestamptz, created_at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        prev || '|' || entry_id::text || '|' || community_id::text || '|' || transfer_id::text
        || '|' || account_id::text || '|' || points::text || '|' || seq::text
        || '|' || ledger_utc_text(expires_at) || '|' || ledger_utc_text(created_at), 'UTF8')), 'hex')
$$;

-- rules.content_hash(op, legs=[(debit, -points), (credit, points)], code, memo, ref_type, ref_id, extra):
-- json.dumps(sort_keys=True, ensure_ascii=False) of the request, legs sorted by account id text.
CREATE OR REPLACE FUNCTION ledger_content_hash(
    p_op text, p_debit uuid, p_credit uuid, p_points bigint, p_code text, p_memo text,
    p_ref_type text, p_ref_id text, p_extra text DEFAULT ''
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        '{"code": ' || to_json(p_code)::text || ', "extra": ' || to_json(p_extra)::text
        || ', "legs": ' || CASE WHEN p_debit::text COLLATE "C" < p_credit::text COLLATE "C"
            THEN '[["' || p_debit::text || '", ' || (-p_points)::text || '], ["'
                 || p_credit::text || '", ' || p_points::text || ']]'
            ELSE '[["' || p_credit::text || '", ' || p_points::text || '], ["'
                 || p_debit::text || '", ' || (-p_points)::text || ']]' END
        || ', "memo": ' || to_json(p_memo)::text || ', "op": ' || to_json(p_op)::text
        || ', "ref_id": ' || coalesce(to_json(p_ref_id)::text, 'null')
        || ', "ref_type": ' || coalesce(to_json(p_ref_type)::text, 'null') || '}', 'UTF8')), 'hex')
$$;

-- rules.expiry_for: ``days`` after earning, or 1 January of the year after the ``value``-th calendar
-- year (the year of earning counts as the first) in the community's time zone; NULL: never.
CREATE OR REPLACE FUNCTION ledger_lot_expiry(p_mode text, p_value int, p_zone text, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_mode = 'days' AND p_value > 0 THEN p_now + p_value * interval '24 hours'
        WHEN p_mode = 'years' AND p_value > 0 THEN make_timestamptz(
            extract(year FROM p_now AT TIME ZONE coalesce(p_zone, 'Asia/Shanghai'))::int + p_value,
            1, 1, 0, 0, 0, coalesce(p_zone, 'Asia/Shanghai'))
    END
$$;

-- Spend ``p_points[i]`` from the lots of member account ``p_account[i]`` (an account may repeat),
-- oldest-expiring first, never-expiring last, in one statement. The caller holds the accounts' locks.
CREATE OR REPLACE FUNCTION ledger_spend_lots(p_account uuid[], p_points bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_taken bigint;
    v_need bigint;
BEGIN
    IF coalesce(cardinality(p_account), 0) = 0 THEN
        RETURN;
    END IF;
    WITH need AS (
        SELECT c.acc, sum(c.total) AS total FROM unnest(p_account, p_points) AS c(acc, total) GROUP BY c.acc),
    lots AS (
        SELECT l.id, l.remaining, need.total,
               sum(l.remaining) OVER (PARTITION BY l.account_id ORDER BY l.expires_at ASC NULLS LAST, l.id
                                      ROWS UNBOUNDED PRECEDING) - l.remaining AS before
          FROM ledger_lots l JOIN need ON l.account_id = need.acc
         WHERE l.remaining > 0),
    took AS (
        UPDATE ledger_lots l SET remaining = l.remaining - least(lots.remaining, lots.total - lots.before)
          FROM lots WHERE l.id = lots.id AND lots.before < lots.total
        RETURNING least(lots.remaining, lots.total - lots.before) AS take)
    SELECT coalesce(sum(take), 0) INTO v_taken FROM took;
    SELECT coalesce(sum(x), 0) INTO v_need FROM unnest(p_points) AS x;
    IF v_taken <> v_need THEN
        RAISE EXCEPTION 'ledger_spend_lots: lots hold % points less than the balance spent', v_need - v_taken;
    END IF;
END;
$$;

-- The rows of a batch of transfers, one statement per table: the transfers, their two entries each
-- (debit, then credit) chained per account in array order, the lots spent and the member's new lot,
-- the accounts' balances, holds, totals (earned / spent / expired), entry counts and chain heads, and
-- the holds posted. The caller has locked every account (id order) and checked keys and overdrafts.
-- Answers how many transfers it inserted: fewer than asked means an idempotency key was taken meanwhile
-- and nothing but those transfer rows was written (the caller answers or undoes them).
-- Last, the issuance budget (积分发放总量): points issued to members (issuance -> member; reversals back to
-- issuance count negative, rules.budget_delta) are added per community and local month to
-- issuance_months by ONE conditional statement each that passes only within community_budgets (no
-- budget row: nothing issues; rules.budget_issued). When one does not pass, it raises SQLSTATE 'JB001'
-- (nothing of the call stays written): ledger_post answers 'over_budget', the batches send the scans
-- to the ordinary path. The counter's row is locked last, after every account, so it is held briefly.
CREATE OR REPLACE FUNCTION ledger_write(
    p_transfer uuid[], p_community uuid[], p_debit uuid[], p_credit uuid[], p_points bigint[],
    p_code text[], p_memo text[], p_ref_type text[], p_ref_id text[], p_actor uuid[], p_key text[],
    p_chash text[], p_reverses uuid[], p_hold uuid[], p_now timestamptz[],
    p_debit_entry uuid[], p_credit_entry uuid[], p_lot uuid[]
) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_transfer, 1), 0);
    r record;
    i int;
    k int;
    kd int;
    kc int;
    p bigint;
    v_written int;
    v_expires timestamptz;
    v_hash text;
    acc uuid[] := '{}'; acc_kind text[] := '{}'; acc_prev text[] := '{}'; acc_seq bigint[] := '{}';
    acc_balance bigint[] := '{}'; acc_held bigint[] := '{}'; acc_earned bigint[] := '{}';
    acc_spent bigint[] := '{}'; acc_expired bigint[] := '{}'; acc_n bigint[] := '{}';
    comm uuid[] := '{}'; comm_mode text[] := '{}'; comm_value int[] := '{}'; comm_zone text[] := '{}';
    e_id uuid[] := '{}'; e_comm uuid[] := '{}'; e_transfer uuid[] := '{}'; e_account uuid[] := '{}';
    e_points bigint[] := '{}'; e_seq bigint[] := '{}'; e_prev text[] := '{}'; e_hash text[] := '{}';
    e_expires timestamptz[] := '{}'; e_now timestamptz[] := '{}';
    l_id uuid[] := '{}'; l_comm uuid[] := '{}'; l_account uuid[] := '{}'; l_entry uuid[] := '{}';
    l_points bigint[] := '{}'; l_expires timestamptz[] := '{}';
    s_account uuid[] := '{}'; s_points bigint[] := '{}';
    b_comm uuid[] := '{}'; b_month date[] := '{}'; b_points bigint[] := '{}';
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- 1. The transfers first: a key a twin committed meanwhile writes nothing else.
    INSERT INTO ledger_transfers (id, community_id, points, code, memo, ref_type, ref_id, actor_id,
                                  idempotency_key, content_hash, reverses_id, created_at)
    SELECT * FROM unnest(p_transfer, p_community, p_points, p_code, p_memo, p_ref_type, p_ref_id, p_actor,
                         p_key, p_chash, p_reverses, p_now)
    ON CONFLICT (community_id, idempotency_key) DO NOTHING;
    GET DIAGNOSTICS v_written = ROW_COUNT;
    IF v_written < n THEN
        RETURN v_written;
    END IF;
    -- 2. The accounts as they stand (the caller holds their locks) and the communities' expiry rules.
    FOR r IN
        SELECT a.id, a.kind::text AS kind, a.last_hash, a.entry_count FROM ledger_accounts a
         WHERE a.id = ANY(p_debit || p_credit)
    LOOP
        acc := acc || r.id; acc_kind := acc_kind || r.kind;
        acc_prev := acc_prev || coalesce(nullif(r.last_hash, ''), repeat('0', 64));
        acc_seq := acc_seq || r.entry_count::bigint;
        acc_balance := acc_balance || 0::bigint; acc_held := acc_held || 0::bigint;
        acc_earned := acc_earned || 0::bigint; acc_spent := acc_spent || 0::bigint;
        acc_expired := acc_expired || 0::bigint; acc_n := acc_n || 0::bigint;
    END LOOP;
    FOR r IN
        SELECT c.id, pol.expiry_mode, pol.expiry_value, c.timezone FROM communities c
          LEFT JOIN ledger_policies pol ON pol.community_id = c.id
         WHERE c.id = ANY(p_community)
    LOOP
        comm := comm || r.id; comm_mode := comm_mode || r.expiry_mode::text;
        comm_value := comm_value || coalesce(r.expiry_value, 0); comm_zone := comm_zone || r.timezone::text;
    END LOOP;
    -- 3. Each transfer's entries chained in order (an account may post more than once in a batch).
    FOR i IN 1 .. n LOOP
        kd := array_position(acc, p_debit[i]);
        kc := array_position(acc, p_credit[i]);
        IF kd IS NULL OR kc IS NULL OR kd = kc THEN
            RAISE EXCEPTION 'ledger_write: accounts % and % of transfer % unknown', p_debit[i], p_credit[i],
                p_transfer[i];
        END IF;
        p := p_points[i];
        v_expires := NULL;
        IF acc_kind[kc] = 'member' THEN
            k := array_position(comm, p_community[i]);
            v_expires := ledger_lot_expiry(comm_mode[k], comm_value[k], comm_zone[k], p_now[i]);
        END IF;
        IF (acc_kind[kd] = 'issuance' AND acc_kind[kc] = 'member')
           OR (acc_kind[kd] = 'member' AND acc_kind[kc] = 'issuance') THEN
            k := array_position(comm, p_community[i]);
            b_comm := b_comm || p_community[i];
            b_month := b_month || date_trunc('month', p_now[i] AT TIME ZONE coalesce(comm_zone[k], 'Asia/Shanghai'))::date;
            b_points := b_points || CASE WHEN acc_kind[kd] = 'issuance' THEN p ELSE -p END;
        END IF;
        acc_seq[kd] := acc_seq[kd] + 1;
        v_hash := ledger_entry_hash(acc_prev[kd], p_debit_entry[i], p_community[i], p_transfer[i], p_debit[i],
                                    -p, acc_seq[kd], NULL, p_now[i]);
        e_id := e_id || p_debit_entry[i]; e_comm := e_comm || p_community[i];
        e_transfer := e_transfer || p_transfer[i]; e_account := e_account || p_debit[i];
        e_points := e_points || (-p); e_seq := e_seq || acc_seq[kd]; e_prev := e_prev || acc_prev[kd];
        e_hash := e_hash || v_hash; e_expires := e_expires || NULL::timestamptz; e_now := e_now || p_now[i];
        acc_prev[kd] := v_hash;
        acc_seq[kc] := acc_seq[kc] + 1;
        v_hash := ledger_entry_hash(acc_prev[kc], p_credit_entry[i], p_community[i], p_transfer[i],
                                    p_credit[i], p, acc_seq[kc], v_expires, p_now[i]);
        e_id := e_id || p_credit_entry[i]; e_comm := e_comm || p_community[i];
        e_transfer := e_transfer || p_transfer[i]; e_account := e_account || p_credit[i];
        e_points := e_points || p; e_seq := e_seq || acc_seq[kc]; e_prev := e_prev || acc_prev[kc];
        e_hash := e_hash || v_hash; e_expires := e_expires || v_expires; e_now := e_now || p_now[i];
        acc_prev[kc] := v_hash;
        acc_balance[kd] := acc_balance[kd] - p;
        acc_balance[kc] := acc_balance[kc] + p;
        acc_n[kd] := acc_n[kd] + 1;
        acc_n[kc] := acc_n[kc] + 1;
        IF p_hold[i] IS NOT NULL THEN
            acc_held[kd] := acc_held[kd] - p;
        END IF;
        IF acc_kind[kd] = 'member' THEN
            IF acc_kind[kc] = 'issuance' THEN
                acc_earned[kd] := acc_earned[kd] - p;
            ELSIF acc_kind[kc] = 'expired' THEN
                acc_expired[kd] := acc_expired[kd] + p;
            ELSE
                acc_spent[kd] := acc_spent[kd] + p;
            END IF;
            s_account := s_account || p_debit[i]; s_points := s_points || p;
        END IF;
        IF acc_kind[kc] = 'member' THEN
            IF acc_kind[kd] = 'expired' THEN
                acc_expired[kc] := acc_expired[kc] - p;
            ELSIF acc_kind[kd] IN ('issuance', 'member') THEN
                acc_earned[kc] := acc_earned[kc] + p;
            ELSE
                acc_spent[kc] := acc_spent[kc] - p;
            END IF;
            l_id := l_id || p_lot[i]; l_comm := l_comm || p_community[i]; l_account := l_account || p_credit[i];
            l_entry := l_entry || p_credit_entry[i]; l_points := l_points || p; l_expires := l_expires || v_expires;
        END IF;
    END LOOP;
    -- 4. The writes, one statement per table. Debits spend the lots that existed before the batch.
    INSERT INTO ledger_entries (id, community_id, transfer_id, account_id, points, seq, prev_hash, hash,
                                expires_at, created_at)
    SELECT * FROM unnest(e_id, e_comm, e_transfer, e_account, e_points, e_seq, e_prev, e_hash, e_expires, e_now);
    PERFORM ledger_spend_lots(s_account, s_points);
    INSERT INTO ledger_lots (id, community_id, account_id, entry_id, points, remaining, expires_at)
    SELECT l.id, l.comm, l.account, l.entry, l.points, l.points, l.expires
      FROM unnest(l_id, l_comm, l_account, l_entry, l_points, l_expires)
           AS l(id, comm, account, entry, points, expires);
    UPDATE ledger_accounts a SET
        balance = a.balance + u.balance, held = a.held + u.held, earned = a.earned + u.earned,
        spent = a.spent + u.spent, expired = a.expired + u.expired,
        entry_count = a.entry_count + u.n, last_hash = u.hash, version = a.version + u.n
      FROM unnest(acc, acc_balance, acc_held, acc_earned, acc_spent, acc_expired, acc_n, acc_prev)
           AS u(id, balance, held, earned, spent, expired, n, hash)
     WHERE a.id = u.id AND u.n > 0;
    UPDATE ledger_holds h SET status = 'posted', transfer_id = u.transfer, resolved_at = u.now
      FROM unnest(p_hold, p_transfer, p_now) AS u(id, transfer, now)
     WHERE h.id = u.id;
    -- 5. The issuance budget, per community and local month (in that order: one lock order).
    IF cardinality(b_comm) > 0 THEN
        FOR r IN
            SELECT b.comm, b.month, sum(b.pts)::bigint AS pts
              FROM unnest(b_comm, b_month, b_points) AS b(comm, month, pts)
             GROUP BY b.comm, b.month
             ORDER BY b.comm, b.month
        LOOP
            IF r.pts > 0 THEN
                INSERT INTO issuance_months AS m (community_id, month, issued)
                SELECT r.comm, r.month, r.pts FROM community_budgets g
                 WHERE g.community_id = r.comm AND r.pts <= g.monthly_points
                ON CONFLICT (community_id, month) DO UPDATE SET issued = m.issued + excluded.issued
                 WHERE m.issued + excluded.issued <= (SELECT g.monthly_points FROM community_budgets g
                                                       WHERE g.community_id = excluded.community_id);
                GET DIAGNOSTICS v_written = ROW_COUNT;
                IF v_written = 0 THEN
                    RAISE EXCEPTION 'ledger_write: % points over the issuance budget of community % for %',
                        r.pts, r.comm, r.month USING ERRCODE = 'JB001';
                END IF;
            ELSIF r.pts < 0 THEN
                UPDATE issuance_months m SET issued = greatest(0, m.issued + r.pts)
                 WHERE m.community_id = r.comm AND m.month = r.month;
            END IF;
        END LOOP;
    END IF;
    RETURN n;
END;
$$;

-- The rows of a batch of holds: the holds (``pending``) and the held points of their accounts. The
-- caller has locked the accounts and checked the free points. Answers how many holds it inserted: fewer
-- than asked means a key was taken meanwhile and only those hold rows were written.
CREATE OR REPLACE FUNCTION ledger_write_holds(
    p_hold uuid[], p_community uuid[], p_account uuid[], p_payee uuid[], p_points bigint[],
    p_expires timestamptz[], p_code text[], p_memo text[], p_ref_type text[], p_ref_id text[],
    p_actor uuid[], p_key text[], p_chash text[], p_now timestamptz[]
) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_hold, 1), 0);
    v_written int;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO ledger_holds (id, community_id, account_id, payee_account_id, points, status, expires_at,
                              code, memo, ref_type, ref_id, actor_id, idempotency_key, content_hash,
                              transfer_id, resolved_at, reason, created_at)
    SELECT h.id, h.comm, h.account, h.payee, h.points, 'pending', h.expires, h.code, h.memo, h.ref_type,
           h.ref_id, h.actor, h.key, h.chash, NULL, NULL, '', h.now
      FROM unnest(p_hold, p_community, p_account, p_payee, p_points, p_expires, p_code, p_memo, p_ref_type,
                  p_ref_id, p_actor, p_key, p_chash, p_now)
           AS h(id, comm, account, payee, points, expires, code, memo, ref_type, ref_id, actor, key, chash, now)
    ON CONFLICT (community_id, idempotency_key) DO NOTHING;
    GET DIAGNOSTICS v_written = ROW_COUNT;
    IF v_written < n THEN
        RETURN v_written;
    END IF;
    UPDATE ledger_accounts a SET held = a.held + u.points, version = a.version + u.n
      FROM (SELECT x.account, sum(x.points) AS points, count(*) AS n
              FROM unnest(p_account, p_points) AS x(account, points) GROUP BY x.account) AS u
     WHERE a.id = u.account;
    RETURN n;
END;
$$;

-- One transfer in one round trip: lock both accounts in id order, answer a replay or a key conflict,
-- refuse an overdraft of a member's free points (unless it posts the member's own hold), then write;
-- 'over_budget' (nothing written) when the community's issuance budget for the month is spent.
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
    v_written int;
    earlier record;
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
    IF src.kind = 'issuance' OR dst.kind = 'issuance' THEN
        -- an issuance may meet the budget: only then the subtransaction of an exception block
        BEGIN
            v_written := ledger_write(
                ARRAY[p_transfer], ARRAY[p_community], ARRAY[p_debit], ARRAY[p_credit], ARRAY[p_points],
                ARRAY[p_code], ARRAY[p_memo], ARRAY[p_ref_type], ARRAY[p_ref_id], ARRAY[p_actor],
                ARRAY[p_key], ARRAY[p_chash], ARRAY[p_reverses], ARRAY[p_hold], ARRAY[p_now],
                ARRAY[p_debit_entry], ARRAY[p_credit_entry], ARRAY[p_lot]);
        EXCEPTION WHEN SQLSTATE 'JB001' THEN  -- nothing written
            status := 'over_budget';
            RETURN;
        END;
    ELSE
        v_written := ledger_write(
            ARRAY[p_transfer], ARRAY[p_community], ARRAY[p_debit], ARRAY[p_credit], ARRAY[p_points],
            ARRAY[p_code], ARRAY[p_memo], ARRAY[p_ref_type], ARRAY[p_ref_id], ARRAY[p_actor],
            ARRAY[p_key], ARRAY[p_chash], ARRAY[p_reverses], ARRAY[p_hold], ARRAY[p_now],
            ARRAY[p_debit_entry], ARRAY[p_credit_entry], ARRAY[p_lot]);
    END IF;
    IF v_written = 0 THEN
        -- a twin with the same key committed meanwhile
        SELECT t.id, t.points, t.content_hash INTO earlier FROM ledger_transfers t
         WHERE t.community_id = p_community AND t.idempotency_key = p_key;
        status := CASE WHEN earlier.content_hash = p_chash THEN 'replayed' ELSE 'key_conflict' END;
        transfer_id := earlier.id;
        points := earlier.points;
        RETURN;
    END IF;
    status := 'ok';
    transfer_id := p_transfer;
    points := p_points;
END;
$$;

-- One hold in one round trip: lock the account, answer a replay or a key conflict, refuse an overdraft.
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
        IF ledger_write_holds(ARRAY[p_hold], ARRAY[p_community], ARRAY[p_account], ARRAY[p_payee],
                              ARRAY[p_points], ARRAY[p_expires], ARRAY[p_code], ARRAY[p_memo],
                              ARRAY[p_ref_type], ARRAY[p_ref_id], ARRAY[p_actor], ARRAY[p_key],
                              ARRAY[p_chash], ARRAY[p_now]) = 1 THEN
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
$$;

-- A pending hold released (cancelled, expired): its points free again.
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
$$;

-- Rows that are evidence are never changed or removed: the trigger function of every append-only table
-- (ledger entries here, audit events in service/audit/sql/audit.sql). TG_ARGV[0]: what to do instead.
CREATE OR REPLACE FUNCTION jifen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only (% refused)%', TG_TABLE_NAME, TG_OP,
        coalesce('; ' || TG_ARGV[0], '') USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE OR REPLACE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION jifen_append_only('post a reversing transfer instead');
