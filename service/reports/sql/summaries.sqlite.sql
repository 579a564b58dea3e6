-- The officials' report summaries kept by row triggers (SQLite twin of summaries.sql). Months come from
-- jifen_local_month(ts, zone), which service/db.py registers on every SQLite connection. Installed by
-- service/dbcode.py after the migrations; edit here, never in a migration.

-- An attendance row added (sign 1) to or taken (sign -1) from its member's month and year: written once,
-- as the INSTEAD OF trigger of a view the attendance triggers insert into.
CREATE VIEW report_attendance_deltas AS
SELECT community_id, member_id, checked_in_at, status, minutes, 0 AS sign FROM attendances WHERE 0;

CREATE TRIGGER report_attendance_deltas_apply INSTEAD OF INSERT ON report_attendance_deltas
WHEN NEW.status IN ('in', 'out') BEGIN
  INSERT INTO report_member_months (community_id, month, member_id, checkins, done, minutes)
    SELECT NEW.community_id,
           jifen_local_month(NEW.checked_in_at, (SELECT timezone FROM communities WHERE id = NEW.community_id)),
           NEW.member_id, NEW.sign,
           CASE WHEN NEW.status = 'out' THEN NEW.sign ELSE 0 END,
           CASE WHEN NEW.status = 'out' THEN NEW.sign * NEW.minutes ELSE 0 END
    WHERE true
    ON CONFLICT (community_id, month, member_id) DO UPDATE SET
      checkins = checkins + excluded.checkins, done = done + excluded.done, minutes = minutes + excluded.minutes;
  INSERT INTO report_member_years (community_id, year, member_id, checkins, done, minutes)
    SELECT NEW.community_id,
           CAST(substr(jifen_local_month(NEW.checked_in_at,
                (SELECT timezone FROM communities WHERE id = NEW.community_id)), 1, 4) AS INTEGER),
           NEW.member_id, NEW.sign,
           CASE WHEN NEW.status = 'out' THEN NEW.sign ELSE 0 END,
           CASE WHEN NEW.status = 'out' THEN NEW.sign * NEW.minutes ELSE 0 END
    WHERE true
    ON CONFLICT (community_id, year, member_id) DO UPDATE SET
      checkins = checkins + excluded.checkins, done = done + excluded.done, minutes = minutes + excluded.minutes;
END;

CREATE TRIGGER report_attendances_insert AFTER INSERT ON attendances BEGIN
  INSERT INTO report_attendance_deltas VALUES (NEW.community_id, NEW.member_id, NEW.checked_in_at, NEW.status,
    NEW.minutes, 1);
END;

CREATE TRIGGER report_attendances_update
AFTER UPDATE OF status, minutes, checked_in_at, community_id, member_id ON attendances BEGIN
  INSERT INTO report_attendance_deltas VALUES (OLD.community_id, OLD.member_id, OLD.checked_in_at, OLD.status,
    OLD.minutes, -1);
  INSERT INTO report_attendance_deltas VALUES (NEW.community_id, NEW.member_id, NEW.checked_in_at, NEW.status,
    NEW.minutes, 1);
END;

CREATE TRIGGER report_attendances_delete AFTER DELETE ON attendances BEGIN
  INSERT INTO report_attendance_deltas VALUES (OLD.community_id, OLD.member_id, OLD.checked_in_at, OLD.status,
    OLD.minutes, -1);
END;

CREATE TRIGGER report_ledger_entries_insert AFTER INSERT ON ledger_entries BEGIN
  INSERT INTO report_account_months (account_id, community_id, month, kind, points)
  SELECT NEW.account_id, NEW.community_id,
         jifen_local_month(NEW.created_at, (SELECT timezone FROM communities WHERE id = NEW.community_id)),
         a.kind, NEW.points
  FROM ledger_accounts a WHERE a.id = NEW.account_id
  ON CONFLICT (account_id, community_id, month) DO UPDATE SET points = points + excluded.points;
END;
