-- Mart acquisition_daily: sessions by day of start, channel, source and campaign, bots left out.
-- Revenue sums the sessions' revenue when they share one currency; NULL with 'MIXED' otherwise.
-- Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
SELECT
  dt,
  channel,
  source,
  campaign,
  COUNT(*) AS sessions,
  COUNT(DISTINCT user_id) AS users,
  COUNT(*) FILTER (WHERE bounce) AS bounces,
  COUNT(*) FILTER (WHERE converted) AS conversions,
  CASE WHEN COUNT(DISTINCT currency) > 1 OR bool_or(currency = 'MIXED') THEN NULL
       ELSE CAST(COALESCE(SUM(revenue), 0) AS DECIMAL(38, 2)) END AS revenue,
  CASE WHEN COUNT(DISTINCT currency) > 1 OR bool_or(currency = 'MIXED') THEN 'MIXED' ELSE MIN(currency) END AS revenue_currency
FROM sessions
WHERE NOT is_bot
GROUP BY dt, channel, source, campaign
