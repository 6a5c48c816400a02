-- User activity (internal, for the incremental users dimension): the sessions each user had each
-- UTC day, once per day (a user's lifetime sessions are the distinct session ids over their days).
-- Reads: clicks. Common dialect (DuckDB, Athena/Trino, Spark SQL).
SELECT DISTINCT
  dt,
  user_id,
  session_id
FROM clicks
