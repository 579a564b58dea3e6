-- The officials' report summaries kept by triggers (PostgreSQL): per member and local month / year of
-- attendances, per account and local month of the ledger. Installed by service/dbcode.py after the
-- migrations; edit here, never in a migration (the SQLite twin is summaries.sqlite.sql). Months are the
-- first local day of the month in the time zone of the row's community. Only attendances with status
-- 'in' or 'out' count: a check-in is +1, an 'out' row also adds to done and its minutes. Rows are keyed
-- by member or account (never one hot row per community), so a trigger locks only what its transaction
-- already touches. `jifen reports rebuild` (service/reports/summary.py) recomputes the same figures.


-- Attendances inserted (+1), updated (-1 the old row, +1 the new) or deleted (-1), one statement at a
-- time (the transition tables), added to the member's month and year.
CREATE OR REPLACE FUNCTION report_attendances_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c uuid[] := '{}'; m uuid[] := '{}'; t_in timestamptz[] := '{}'; st text[] := '{}'; mi int[] := '{}';
    s int[] := '{}';
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT coalesce(array_agg(x.community_id), '{}'), coalesce(array_agg(x.member_id), '{}'),
               coalesce(array_agg(x.checked_in_at), '{}'), coalesce(array_agg(x.status::text), '{}'),
               coalesce(array_agg(x.minutes), '{}'), coalesce(array_agg(1), '{}')
          INTO c, m, t_in, st, mi, s
          FROM new_rows x WHERE x.status IN ('in', 'out');
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT c || coalesce(array_agg(x.community_id), '{}'), m || coalesce(array_agg(x.member_id), '{}'),
               t_in || coalesce(array_agg(x.checked_in_at), '{}'), st || coalesce(array_agg(x.status::text), '{}'),
               mi || coalesce(array_agg(x.minutes), '{}'), s || coalesce(array_agg(-1), '{}')
          INTO c, m, t_in, st, mi, s
          FROM old_rows x WHERE x.status IN ('in', 'out');
    END IF;
    IF cardinality(c) = 0 THEN
        RETURN NULL;
    END IF;
    WITH d AS (
        SELECT r.community_id, r.member_id,
               date_trunc('month', r.checked_in_at AT TIME ZONE z.timezone)::date AS month,
               sum(r.s) AS checkins,
               sum(CASE WHEN r.status = 'out' THEN r.s ELSE 0 END) AS done,
               sum(CASE WHEN r.status = 'out' THEN r.s * r.minutes ELSE 0 END) AS minutes
          FROM unnest(c, m, t_in, st, mi, s) AS r(community_id, member_id, checked_in_at, status, minutes, s)
          JOIN communities z ON z.id = r.community_id
         GROUP BY 1, 2, 3
        HAVING sum(r.s) <> 0 OR sum(CASE WHEN r.status = 'out' THEN r.s ELSE 0 END) <> 0
            OR sum(CASE WHEN r.status = 'out' THEN r.s * r.minutes ELSE 0 END) <> 0
    ), months AS (
        INSERT INTO report_member_months AS t (community_id, month, member_id, checkins, done, minutes)
        SELECT community_id, month, member_id, checkins, done, minutes FROM d ORDER BY 1, 2, 3
        ON CONFLICT (community_id, month, member_id) DO UPDATE
          SET checkins = t.checkins + excluded.checkins, done = t.done + excluded.done,
              minutes = t.minutes + excluded.minutes
    )
    INSERT INTO report_member_years AS t (community_id, year, member_id, checkins, done, minutes)
    SELECT community_id, extract(year FROM month)::int, member_id, sum(checkins), sum(done), sum(minutes)
      FROM d GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (community_id, year, member_id) DO UPDATE
      SET checkins = t.checkins + excluded.checkins, done = t.done + excluded.done,
          minutes = t.minutes + excluded.minutes;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_ledger_entries_insert() RETURNS trigger AS $$
BEGIN
  INSERT INTO report_account_months AS t (account_id, community_id, month, kind, points)
  SELECT e.account_id, e.community_id,
         date_trunc('month', e.created_at AT TIME ZONE c.timezone)::date, a.kind, sum(e.points)
  FROM new_rows e JOIN ledger_accounts a ON a.id = e.account_id JOIN communities c ON c.id = e.community_id
  GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3
  ON CONFLICT (account_id, community_id, month) DO UPDATE SET points = t.points + excluded.points;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER report_attendances_insert AFTER INSERT ON attendances
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_attendances_changed();

CREATE OR REPLACE TRIGGER report_attendances_update AFTER UPDATE ON attendances
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_attendances_changed();

CREATE OR REPLACE TRIGGER report_attendances_delete AFTER DELETE ON attendances
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION report_attendances_changed();

CREATE OR REPLACE TRIGGER report_ledger_entries_insert AFTER INSERT ON ledger_entries
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION report_ledger_entries_insert();
