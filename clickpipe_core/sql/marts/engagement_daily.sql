-- Mart engagement_daily: sessions by day of start and duration bucket, bots left out.
-- Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
WITH bucketed AS (
  SELECT
    dt,
    page_views,
    bounce,
    CASE
      WHEN duration_seconds < 10 THEN 1
      WHEN duration_seconds < 30 THEN 2
      WHEN duration_seconds < 60 THEN 3
      WHEN duration_seconds < 180 THEN 4
      WHEN duration_seconds < 600 THEN 5
      WHEN duration_seconds < 1800 THEN 6
      ELSE 7
    END AS bucket_order
  FROM sessions
  WHERE NOT is_bot
)
SELECT
  dt,
  ['0-10s', '10-30s', '30s-1m', '1-3m', '3-10m', '10-30m', '30m+'][bucket_order] AS duration_bucket,
  CAST(bucket_order AS INTEGER) AS bucket_order,
  COUNT(*) AS sessions,
  SUM(page_views) AS page_views,
  COUNT(*) FILTER (WHERE bounce) AS bounces,
  CAST(SUM(page_views) AS DOUBLE) / COUNT(*) AS pages_per_session,
  CAST(COUNT(*) FILTER (WHERE bounce) AS DOUBLE) / COUNT(*) AS bounce_rate
FROM bucketed
GROUP BY dt, bucket_order
