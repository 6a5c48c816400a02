-- Mart daily_events: click events per UTC day and event type.
-- Reads: clicks. Common dialect (DuckDB, Athena/Trino, Spark SQL); dt is the partition column (text).
SELECT
  CAST(dt AS DATE) AS dt,
  event_type,
  COUNT(*) AS events,
  COUNT(DISTINCT user_id) AS users,
  COUNT(DISTINCT session_id) AS sessions
FROM clicks
GROUP BY dt, event_type
