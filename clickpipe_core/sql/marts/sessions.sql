-- Mart sessions: the derived sessions table (clickpipe_core/sql/sessions/sessions.sql) as it is,
-- bots included and flagged. Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
SELECT * FROM sessions
