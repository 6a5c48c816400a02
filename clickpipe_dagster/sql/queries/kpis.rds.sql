-- Headline KPIs from the marts in PostgreSQL (clickpipe query --on rds --file ...).
SELECT
  (SELECT COUNT(*) FROM marts.users) AS users,
  (SELECT COUNT(*) FROM marts.users WHERE last_seen IS NOT NULL) AS active_users,
  (SELECT COALESCE(SUM(orders), 0) FROM marts.revenue_daily) AS orders,
  (SELECT COALESCE(SUM(events), 0) FROM marts.daily_events) AS events
