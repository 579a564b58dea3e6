-- The store's batches (PostgreSQL): a partner's redemptions, members' orders and voucher claims, the calls of one
-- worker's batch in one statement. Installed by service/dbcode.py after the migrations; edit here, never
-- in a migration. A request inside a transaction (an Idempotency-Key) calls the same function with a
-- batch of one, so each act has one path on PostgreSQL besides the ordinary path in
-- service/store/service.py (which gives every refusal its code).
--
--   store_redeem_batch   find each code's voucher the caller is staff for, lock the vouchers, their
--                        holds and every account in one order, post each hold to the shop (ledger_write)
--   store_reserve_batch  lock the products, then the members' accounts, in id order; decide each order in
--                        arrival order against what the batch took before it (stock, the monthly limit,
--                        free points); the holds by ledger_write_holds
--   store_claim_batch    lock the offers, the units with a monthly quota, then the members' accounts, in
--                        id order; decide each voucher claim in arrival order against what the batch took
--                        before it (quotas, the member's limits, free points); the holds by
--                        ledger_write_holds
-- Each answers one row per call: 'ok' with the rows, or 'slow' (nothing of that call written).

CREATE OR REPLACE FUNCTION store_redeem_batch(
    p_code text[], p_actor uuid[], p_version int[], p_admin boolean[], p_now timestamptz[], p_transfer uuid[],
    p_debit_entry uuid[], p_credit_entry uuid[], p_lot uuid[]
) RETURNS TABLE (o_idx int, o_outcome text, o_voucher vouchers, o_offer offers, o_member_name text,
                 o_shop_name text)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_code, 1), 0);
    r record;
    i int;
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
    acc uuid[] := '{}'; acc_kind text[] := '{}'; acc_comm uuid[] := '{}';
    t_id uuid[] := '{}'; t_comm uuid[] := '{}'; t_debit uuid[] := '{}'; t_credit uuid[] := '{}';
    t_points bigint[] := '{}'; t_code text[] := '{}'; t_memo text[] := '{}'; t_ref_type text[] := '{}';
    t_ref_id text[] := '{}'; t_actor uuid[] := '{}'; t_chash text[] := '{}'; t_now timestamptz[] := '{}';
    t_hold uuid[] := '{}'; t_debit_entry uuid[] := '{}'; t_credit_entry uuid[] := '{}'; t_lot uuid[] := '{}';
    v_id uuid[] := '{}'; v_now timestamptz[] := '{}'; v_actor uuid[] := '{}';
    v_detail text;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    answered := array_fill(false, ARRAY[n]);
    -- 1. Each code's voucher the caller is staff for (the first by id), if the login is still live.
    FOR r IN
        SELECT s.i::int AS i,
               (SELECT x.id FROM vouchers x
                 WHERE x.code = s.code AND (s.admin OR EXISTS (
                     SELECT 1 FROM memberships m
                      WHERE m.community_id = x.community_id AND m.member_id = s.actor
                        AND (m.role = 'admin' OR (m.role = 'partner' AND m.partner_id = x.partner_id))))
                 ORDER BY x.id LIMIT 1) AS voucher_id
          FROM unnest(p_code, p_actor, p_version, p_admin) WITH ORDINALITY AS s(code, actor, ver, admin, i)
         WHERE s.ver IS NULL  -- not a login's act (accounts.service.require_live_login)
            OR EXISTS (SELECT 1 FROM members mm WHERE mm.id = s.actor AND mm.token_version = s.ver)
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
        SELECT a.id, a.kind, a.community_id FROM ledger_accounts a
         WHERE a.id = ANY(ids) ORDER BY a.id FOR NO KEY UPDATE
    LOOP
        acc := acc || r.id; acc_kind := acc_kind || r.kind::text; acc_comm := acc_comm || r.community_id;
    END LOOP;
    -- 4. Each hold's posting to the shop, as points.post_hold has it (content hash, no key).
    FOREACH i IN ARRAY go LOOP
        h := g_hold[i];
        ks := array_position(acc, h.account_id);
        kd := array_position(acc, h.payee_account_id);
        IF ks IS NULL OR kd IS NULL OR acc_kind[ks] <> 'member' OR acc_kind[kd] IN ('member', 'issuance', 'expired')
           OR acc_comm[ks] <> h.community_id OR acc_comm[kd] <> h.community_id THEN
            g_hold[i] := NULL;
            CONTINUE;
        END IF;
        t_id := t_id || p_transfer[i]; t_comm := t_comm || h.community_id; t_debit := t_debit || h.account_id;
        t_credit := t_credit || h.payee_account_id; t_points := t_points || h.points; t_code := t_code || h.code;
        t_memo := t_memo || h.memo; t_ref_type := t_ref_type || h.ref_type; t_ref_id := t_ref_id || h.ref_id;
        t_actor := t_actor || p_actor[i];
        t_chash := t_chash || ledger_content_hash('transfer', h.account_id, h.payee_account_id, h.points, h.code,
                                                  h.memo, h.ref_type, h.ref_id);
        t_now := t_now || p_now[i]; t_hold := t_hold || h.id; t_debit_entry := t_debit_entry || p_debit_entry[i];
        t_credit_entry := t_credit_entry || p_credit_entry[i]; t_lot := t_lot || p_lot[i];
        v_id := v_id || (g_voucher[i]).id; v_now := v_now || p_now[i]; v_actor := v_actor || p_actor[i];
    END LOOP;
    -- 5. The writes: the vouchers in one statement, the postings by ledger_write (the holds posted, the
    --    members' lots spent oldest-expiring first); all or nothing.
    IF cardinality(t_id) > 0 THEN
        BEGIN
            UPDATE vouchers x SET status = 'redeemed', redeemed_at = u.now, redeemed_by = u.actor
              FROM unnest(v_id, v_now, v_actor) AS u(id, now, actor) WHERE x.id = u.id;
            PERFORM ledger_write(t_id, t_comm, t_debit, t_credit, t_points, t_code, t_memo, t_ref_type, t_ref_id,
                                 t_actor, array_fill(NULL::text, ARRAY[cardinality(t_id)]), t_chash,
                                 array_fill(NULL::uuid, ARRAY[cardinality(t_id)]), t_hold, t_now, t_debit_entry,
                                 t_credit_entry, t_lot);
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
$$;


CREATE OR REPLACE FUNCTION store_reserve_batch(
    p_product uuid[], p_actor uuid[], p_version int[], p_admin boolean[], p_quantity int[], p_quantity_max int[],
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
    acc uuid[] := '{}'; acc_free bigint[] := '{}'; acc_add bigint[] := '{}';
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
                   AND (s.ver IS NULL  -- not a login's act (accounts.service.require_live_login)
                        OR EXISTS (SELECT 1 FROM members mm WHERE mm.id = s.actor AND mm.token_version = s.ver))
                   AND (s.admin OR EXISTS (
                       SELECT 1 FROM memberships m WHERE m.community_id = pr.community_id
                          AND m.member_id = s.actor AND m.role IN ('member', 'admin'))), false) AS fine,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = pr.community_id AND a.owner_key = 'member:' || s.actor::text) AS src,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = pr.community_id AND a.owner_key = 'store') AS dst,
               (SELECT st.order_days FROM store_settings st WHERE st.community_id = pr.community_id) AS days,
               (SELECT c.timezone FROM communities c WHERE c.id = pr.community_id) AS zone
          FROM unnest(p_product, p_actor, p_version, p_admin, p_quantity, p_quantity_max, p_now)
               WITH ORDINALITY AS s(pid, actor, ver, admin, q, qmax, now, i)
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
        v_memo := regexp_replace(left(s_name[i] || ' x' || p_quantity[i]::text, 200),
                                 '^[[:space:]]+|[[:space:]]+$', '', 'g');
        -- rules.content_hash("hold", ...) as points.hold computes it for reserve_order
        v_chash := ledger_content_hash('hold', s_src[i], s_dst[i], v_total, 'order', v_memo, 'order',
                                       p_order[i]::text);
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
            IF ledger_write_holds(h_id, h_comm, h_src, h_dst, h_points, h_expires,
                                  array_fill('order'::text, ARRAY[cardinality(h_id)]), h_memo,
                                  array_fill('order'::text, ARRAY[cardinality(h_id)]), h_ref, h_actor, h_key,
                                  h_chash, h_now) <> cardinality(h_id) THEN
                RAISE EXCEPTION 'store_reserve_batch: an order key was taken meanwhile';
            END IF;
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
$$;


-- A member's voucher claims: per claim one query finds whose points pay (the offer's community, or the
-- one community of the caller a region's unit serves), the offer open, the login live, the accounts;
-- then the offers, the units with a monthly quota and the members' accounts are locked, each kind in id
-- order (offer, unit, account: the ordinary path's order), and each claim is decided in arrival order
-- against what the batch took before it (the total quota, the member's limit, the unit's and the
-- offer's monthly quotas, the member's monthly limit, free points). The holds by ledger_write_holds.
CREATE OR REPLACE FUNCTION store_claim_batch(
    p_offer uuid[], p_actor uuid[], p_version int[], p_admin boolean[], p_asked uuid[], p_now timestamptz[],
    p_voucher uuid[], p_hold uuid[], p_code text[], p_minutes_default int[], p_grace interval[],
    p_hold_max interval[]
) RETURNS TABLE (o_idx int, o_outcome text, o_voucher vouchers)
LANGUAGE plpgsql AS $$
DECLARE
    n int := coalesce(array_length(p_offer, 1), 0);
    r record;
    i int;
    ko int;
    kp int;
    ka int;
    k_life int;
    k_month int;
    k_unit int;
    k_mine int;
    answered boolean[];
    cand int[] := '{}';
    s_comm uuid[]; s_src uuid[]; s_dst uuid[]; s_start timestamptz[]; s_set_minutes int[]; s_partner uuid[];
    s_memo text[];
    off uuid[] := '{}'; off_claimed bigint[] := '{}'; off_quota bigint[] := '{}'; off_points bigint[] := '{}';
    off_limit bigint[] := '{}'; off_minutes int[] := '{}'; off_month bigint[] := '{}';
    off_mine bigint[] := '{}'; off_take bigint[] := '{}';
    unit uuid[] := '{}'; unit_quota bigint[] := '{}';
    cnt_key text[] := '{}'; cnt_n bigint[] := '{}'; cnt_of uuid[] := '{}'; cnt_member uuid[] := '{}';
    cnt_start timestamptz[] := '{}';
    zones_mixed boolean;
    k int;
    acc uuid[] := '{}'; acc_free bigint[] := '{}'; acc_add bigint[] := '{}';
    ok int[] := '{}';
    h_id uuid[] := '{}'; h_comm uuid[] := '{}'; h_src uuid[] := '{}'; h_dst uuid[] := '{}';
    h_points bigint[] := '{}'; h_expires timestamptz[] := '{}'; h_memo text[] := '{}'; h_ref text[] := '{}';
    h_actor uuid[] := '{}'; h_key text[] := '{}'; h_chash text[] := '{}'; h_now timestamptz[] := '{}';
    w_expires timestamptz[] := '{}';
    done vouchers[] := '{}';
    v_expires timestamptz;
    v_zone text;
    v_row vouchers;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    answered := array_fill(false, ARRAY[n]);
    -- 1. Per claim, one query: the offer open (and its unit active), the login live, whose points pay
    --    (store.service._claiming_community: the offer's community for a member or admin of it; for a
    --    region's unit, the ONE community among the caller's residences, or the one asked, that the unit
    --    serves: accounts.views.partner_serves), that community's time zone and voucher setting, the
    --    member's and the unit's accounts there.
    FOR r IN
        SELECT s.i::int AS i, o.partner_id, p.name AS partner_name, o.title, x.comm, x.n_served,
               (SELECT c.timezone FROM communities c WHERE c.id = x.comm) AS zone,
               (SELECT st.voucher_minutes FROM store_settings st WHERE st.community_id = x.comm) AS set_minutes,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = x.comm AND a.owner_key = 'member:' || s.actor::text) AS src,
               (SELECT a.id FROM ledger_accounts a
                 WHERE a.community_id = x.comm AND a.owner_key = 'partner:' || o.partner_id::text) AS dst
          FROM unnest(p_offer, p_actor, p_version, p_admin, p_asked, p_now)
               WITH ORDINALITY AS s(oid, actor, ver, admin, asked, now, i)
          JOIN offers o ON o.id = s.oid
          JOIN partners p ON p.id = o.partner_id
          CROSS JOIN LATERAL (
              SELECT (array_agg(c.cid))[1] AS comm, count(*) AS n_served FROM (
                  SELECT o.community_id AS cid
                   WHERE o.community_id IS NOT NULL AND (s.asked IS NULL OR s.asked = o.community_id)
                     AND (s.admin OR EXISTS (
                         SELECT 1 FROM memberships m WHERE m.community_id = o.community_id
                            AND m.member_id = s.actor AND m.role IN ('member', 'admin')))
                  UNION ALL
                  SELECT m.community_id FROM memberships m
                   WHERE o.community_id IS NULL AND m.member_id = s.actor AND m.role = 'member'
                     AND (s.asked IS NULL OR m.community_id = s.asked)
                     AND CASE WHEN p.community_id IS NOT NULL THEN p.community_id = m.community_id
                         ELSE p.region_id IN (
                             SELECT u.rid FROM region_communities rc
                               JOIN regions st ON st.id = rc.region_id
                               LEFT JOIN regions d ON d.id = st.parent_id
                               CROSS JOIN LATERAL (VALUES (rc.region_id), (st.parent_id), (d.parent_id)) AS u(rid)
                              WHERE rc.community_id = m.community_id AND u.rid IS NOT NULL) END
              ) AS c
          ) AS x
         WHERE o.active AND p.active
           AND (o.valid_from IS NULL OR o.valid_from <= s.now) AND (o.valid_until IS NULL OR o.valid_until > s.now)
           AND (s.ver IS NULL  -- not a login's act (accounts.service.require_live_login)
                OR EXISTS (SELECT 1 FROM members mm WHERE mm.id = s.actor AND mm.token_version = s.ver))
    LOOP
        CONTINUE WHEN r.n_served <> 1 OR r.src IS NULL OR r.dst IS NULL;  -- the ordinary path gives the code
        s_comm[r.i] := r.comm; s_src[r.i] := r.src; s_dst[r.i] := r.dst; s_partner[r.i] := r.partner_id;
        s_set_minutes[r.i] := r.set_minutes;
        v_zone := coalesce(r.zone, 'Asia/Shanghai');
        -- kit.months.month_bounds_at: the local month's first instant
        s_start[r.i] := date_trunc('month', p_now[r.i] AT TIME ZONE v_zone) AT TIME ZONE v_zone;
        -- store.service.claim_voucher's memo, as points.hold trims it
        s_memo[r.i] := regexp_replace(left(r.partner_name || ': ' || r.title, 200),
                                      '^[[:space:]]+|[[:space:]]+$', '', 'g');
        cand := cand || r.i;
    END LOOP;
    IF cardinality(cand) = 0 THEN
        FOR i IN 1 .. n LOOP
            o_idx := i; o_outcome := 'slow'; o_voucher := NULL;
            RETURN NEXT;
        END LOOP;
        RETURN;
    END IF;
    -- 2. The offers, locked in id order (the ordinary path's conditional UPDATE of claimed_count).
    FOR r IN
        SELECT f.id, f.claimed_count, f.quota_total, f.points, f.limit_per_member, f.voucher_minutes,
               f.monthly_quota, f.member_month_limit FROM offers f
         WHERE f.id = ANY(ARRAY(SELECT p_offer[c] FROM unnest(cand) AS c))
         ORDER BY f.id
           FOR NO KEY UPDATE
    LOOP
        off := off || r.id; off_claimed := off_claimed || r.claimed_count::bigint;
        off_quota := off_quota || r.quota_total::bigint; off_points := off_points || r.points::bigint;
        off_limit := off_limit || r.limit_per_member::bigint; off_minutes := off_minutes || r.voucher_minutes;
        off_month := off_month || r.monthly_quota::bigint; off_mine := off_mine || r.member_month_limit::bigint;
        off_take := off_take || 0::bigint;
    END LOOP;
    -- 3. The units with a monthly quota, locked in id order (accounts.service.lock_partner_quota).
    FOR r IN
        SELECT pt.id, pt.monthly_quota FROM partners pt
         WHERE pt.id = ANY(ARRAY(SELECT s_partner[c] FROM unnest(cand) AS c)) AND pt.monthly_quota IS NOT NULL
         ORDER BY pt.id
           FOR UPDATE
    LOOP
        unit := unit || r.id; unit_quota := unit_quota || r.monthly_quota::bigint;
    END LOOP;
    -- 4. The vouchers that count (issued or redeemed): the member's of the offer, and this month's (in the
    --    paying community's time zone) of the offer, of the unit and the member's of the offer.
    FOR r IN
        WITH c AS (
            SELECT p_offer[c] AS offer, p_actor[c] AS member, s_partner[c] AS partner, s_start[c] AS start,
                   array_position(off, p_offer[c]) AS ko, array_position(unit, s_partner[c]) AS ku
              FROM unnest(cand) AS c),
        keys AS (
            SELECT DISTINCT 'L' || c.offer::text || c.member::text AS key, c.offer, c.member,
                   NULL::uuid AS partner, NULL::timestamptz AS start
              FROM c WHERE off_limit[c.ko] IS NOT NULL
            UNION
            SELECT 'O' || c.offer::text || c.start::text, c.offer, NULL, NULL, c.start
              FROM c WHERE off_month[c.ko] IS NOT NULL
            UNION
            SELECT 'P' || c.partner::text || c.start::text, NULL, NULL, c.partner, c.start
              FROM c WHERE c.ku IS NOT NULL
            UNION
            SELECT 'M' || c.offer::text || c.member::text || c.start::text, c.offer, c.member, NULL, c.start
              FROM c WHERE off_mine[c.ko] IS NOT NULL)
        SELECT k.key, coalesce(k.offer, k.partner) AS subject, k.member, k.start,
               CASE left(k.key, 1)
                   WHEN 'L' THEN (SELECT count(*) FROM vouchers v WHERE v.offer_id = k.offer
                                     AND v.member_id = k.member AND v.status IN ('issued', 'redeemed'))
                   WHEN 'O' THEN (SELECT count(*) FROM vouchers v WHERE v.offer_id = k.offer
                                     AND v.created_at >= k.start AND v.status IN ('issued', 'redeemed'))
                   WHEN 'P' THEN (SELECT count(*) FROM vouchers v WHERE v.partner_id = k.partner
                                     AND v.created_at >= k.start AND v.status IN ('issued', 'redeemed'))
                   ELSE (SELECT count(*) FROM vouchers v WHERE v.offer_id = k.offer AND v.member_id = k.member
                            AND v.created_at >= k.start AND v.status IN ('issued', 'redeemed'))
               END AS n
          FROM keys k
    LOOP
        cnt_key := cnt_key || r.key; cnt_n := cnt_n || r.n::bigint; cnt_of := cnt_of || r.subject;
        cnt_member := cnt_member || r.member; cnt_start := cnt_start || r.start;
    END LOOP;
    -- Claims paying from communities whose months start at different instants (time zones) count one
    -- another's vouchers under each one's own month (below).
    zones_mixed := (SELECT count(DISTINCT s_start[c]) FROM unnest(cand) AS c) > 1;
    -- 5. The members' accounts, locked in id order (after the offers and units, as on the ordinary path).
    FOR r IN
        SELECT a.id, a.balance - a.held AS free FROM ledger_accounts a
         WHERE a.id = ANY(ARRAY(SELECT s_src[c] FROM unnest(cand) AS c))
         ORDER BY a.id
           FOR NO KEY UPDATE
    LOOP
        acc := acc || r.id; acc_free := acc_free || r.free; acc_add := acc_add || 0::bigint;
    END LOOP;
    -- 6. Each claim in arrival order, against what the batch took before it. A refused one takes nothing.
    FOREACH i IN ARRAY cand LOOP
        ko := array_position(off, p_offer[i]);
        CONTINUE WHEN ko IS NULL;
        CONTINUE WHEN off_quota[ko] IS NOT NULL AND off_claimed[ko] + off_take[ko] >= off_quota[ko];
        k_life := array_position(cnt_key, 'L' || p_offer[i]::text || p_actor[i]::text);
        CONTINUE WHEN off_limit[ko] IS NOT NULL AND cnt_n[k_life] >= off_limit[ko];
        kp := array_position(unit, s_partner[i]);
        k_unit := array_position(cnt_key, 'P' || s_partner[i]::text || s_start[i]::text);
        CONTINUE WHEN kp IS NOT NULL AND cnt_n[k_unit] >= unit_quota[kp];
        k_month := array_position(cnt_key, 'O' || p_offer[i]::text || s_start[i]::text);
        CONTINUE WHEN off_month[ko] IS NOT NULL AND cnt_n[k_month] >= off_month[ko];
        k_mine := array_position(cnt_key, 'M' || p_offer[i]::text || p_actor[i]::text || s_start[i]::text);
        CONTINUE WHEN off_mine[ko] IS NOT NULL AND cnt_n[k_mine] >= off_mine[ko];
        v_expires := p_now[i] + make_interval(mins => coalesce(nullif(off_minutes[ko], 0),
                                                               nullif(s_set_minutes[i], 0), p_minutes_default[i]));
        CONTINUE WHEN v_expires + p_grace[i] <= p_now[i] OR v_expires + p_grace[i] > p_now[i] + p_hold_max[i];
        ka := array_position(acc, s_src[i]);
        CONTINUE WHEN ka IS NULL OR acc_free[ka] - acc_add[ka] < off_points[ko];
        -- taken: the batch's later claims count this one
        off_take[ko] := off_take[ko] + 1;
        acc_add[ka] := acc_add[ka] + off_points[ko];
        IF k_life IS NOT NULL THEN cnt_n[k_life] := cnt_n[k_life] + 1; END IF;
        IF NOT zones_mixed THEN
            IF k_unit IS NOT NULL THEN cnt_n[k_unit] := cnt_n[k_unit] + 1; END IF;
            IF k_month IS NOT NULL THEN cnt_n[k_month] := cnt_n[k_month] + 1; END IF;
            IF k_mine IS NOT NULL THEN cnt_n[k_mine] := cnt_n[k_mine] + 1; END IF;
        ELSE  -- the voucher counts in every month (of any zone) that has begun when it is made
            FOR k IN 1 .. coalesce(cardinality(cnt_key), 0) LOOP
                IF cnt_start[k] <= p_now[i] AND (
                       (left(cnt_key[k], 1) = 'O' AND cnt_of[k] = p_offer[i])
                    OR (left(cnt_key[k], 1) = 'P' AND cnt_of[k] = s_partner[i])
                    OR (left(cnt_key[k], 1) = 'M' AND cnt_of[k] = p_offer[i] AND cnt_member[k] = p_actor[i])) THEN
                    cnt_n[k] := cnt_n[k] + 1;
                END IF;
            END LOOP;
        END IF;
        h_id := h_id || p_hold[i]; h_comm := h_comm || s_comm[i]; h_src := h_src || s_src[i];
        h_dst := h_dst || s_dst[i]; h_points := h_points || off_points[ko];
        h_expires := h_expires || (v_expires + p_grace[i]); h_memo := h_memo || s_memo[i];
        h_ref := h_ref || p_voucher[i]::text; h_actor := h_actor || p_actor[i];
        h_key := h_key || ('voucher:' || p_voucher[i]::text);
        -- rules.content_hash("hold", ...) as points.hold computes it for claim_voucher
        h_chash := h_chash || ledger_content_hash('hold', s_src[i], s_dst[i], off_points[ko], 'voucher', s_memo[i],
                                                  'voucher', p_voucher[i]::text);
        h_now := h_now || p_now[i]; w_expires := w_expires || v_expires;
        ok := ok || i;
    END LOOP;
    -- 7. The writes, one statement per table, all or nothing.
    IF cardinality(ok) > 0 THEN
        BEGIN
            UPDATE offers f SET claimed_count = f.claimed_count + u.take
              FROM unnest(off, off_take) AS u(id, take) WHERE f.id = u.id AND u.take > 0;
            IF ledger_write_holds(h_id, h_comm, h_src, h_dst, h_points, h_expires,
                                  array_fill('voucher'::text, ARRAY[cardinality(h_id)]), h_memo,
                                  array_fill('voucher'::text, ARRAY[cardinality(h_id)]), h_ref, h_actor, h_key,
                                  h_chash, h_now) <> cardinality(h_id) THEN
                RAISE EXCEPTION 'store_claim_batch: a voucher key was taken meanwhile';
            END IF;
            FOR r IN
                INSERT INTO vouchers (id, community_id, partner_id, offer_id, member_id, code, points, status,
                                      hold_id, expires_at, redeemed_at, redeemed_by, created_at)
                SELECT p_voucher[w.i], s_comm[w.i], s_partner[w.i], p_offer[w.i], p_actor[w.i], p_code[w.i],
                       w.points, 'issued', p_hold[w.i], w.expires, NULL, NULL, p_now[w.i]
                  FROM unnest(ok, h_points, w_expires) AS w(i, points, expires)
                RETURNING vouchers AS row
            LOOP
                done := done || r.row;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN  -- nothing was written (a code taken meanwhile...): the ordinary path
            done := '{}';
        END;
    END IF;
    FOREACH v_row IN ARRAY done LOOP
        i := array_position(p_voucher, v_row.id);
        o_idx := i; o_outcome := 'ok'; o_voucher := v_row;
        answered[i] := true;
        RETURN NEXT;
    END LOOP;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN answered[i];
        o_idx := i; o_outcome := 'slow'; o_voucher := NULL;
        RETURN NEXT;
    END LOOP;
END;
$$;
