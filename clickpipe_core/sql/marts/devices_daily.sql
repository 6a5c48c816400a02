-- Mart devices_daily: sessions by day of start, device class, browser and OS, bots left out.
-- Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
SELECT
  dt,
  device_class,
  browser,
  os,
  COUNT(*) AS sessions,
  COUNT(DISTINCT user_id) AS users,
  COUNT(*) FILTER (WHERE bounce) AS bounces,
  COUNT(*) FILTER (WHERE converted) AS conversions
FROM sessions
WHERE NOT is_bot
GROUP BY dt, device_class, browser, os
