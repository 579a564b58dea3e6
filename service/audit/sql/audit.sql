-- The audit log's database code (PostgreSQL). Installed by service/dbcode.py after the migrations.

-- Audit events are evidence: jifen_append_only (service/points/sql/ledger.sql) refuses UPDATE and DELETE.
CREATE OR REPLACE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION jifen_append_only();
