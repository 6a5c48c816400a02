-- User activity (internal, for the incremental weekly retention): one row per UTC day of session start
-- and user with a session that is not a bot's, and whether one of those sessions has a purchase.
-- Weekly retention (retention_weekly.sql) is a function of these rows; pg_load maintains it from them.
-- Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
SELECT
  dt,
  user_id,
  bool_or(converted) AS purchased
FROM sessions
WHERE NOT is_bot
GROUP BY dt, user_id
