-- The audit log is append-only on SQLite too: UPDATE and DELETE of an event abort the statement.
-- Installed after migrations by service/dbcode.py (which drops every trigger first).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (UPDATE refused)');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only (DELETE refused)');
END;
