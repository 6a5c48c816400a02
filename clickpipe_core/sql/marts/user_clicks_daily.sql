-- User activity (internal, for the incremental users dimension): one row per UTC day and user with
-- their first and last click and their number of click events that day.
-- Reads: clicks. Common dialect (DuckDB, Athena/Trino, Spark SQL).
SELECT
  dt,
  user_id,
  MIN(ts) AS first_ts,
  MAX(ts) AS last_ts,
  COUNT(*) AS events
FROM clicks
GROUP BY dt, user_id
