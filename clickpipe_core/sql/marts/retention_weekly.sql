-- Mart retention_weekly: weekly cohorts by first-seen week x weeks since, for users and purchasers,
-- over every day's sessions, bots left out. Weeks are ISO weeks (Monday, UTC).
-- The definition: Job 2 does not run it. PostgreSQL maintains marts.retention_weekly incrementally from
-- the visits of user_visits_daily.sql (clickpipe_core/pg_load.py), equal to this over the loaded days.
-- Reads: sessions (DuckDB, Job 2's one engine for sessionized marts).
WITH activity AS (
  SELECT user_id, CAST(date_trunc('week', started_at) AS DATE) AS week, bool_or(converted) AS purchased
  FROM sessions
  WHERE NOT is_bot
  GROUP BY user_id, CAST(date_trunc('week', started_at) AS DATE)
), cohorts AS (
  SELECT user_id, MIN(week) AS cohort_week FROM activity GROUP BY user_id
), sizes AS (
  SELECT cohort_week, COUNT(*) AS cohort_users FROM cohorts GROUP BY cohort_week
)
SELECT
  c.cohort_week,
  CAST((a.week - c.cohort_week) / 7 AS INTEGER) AS weeks_since,
  s.cohort_users,
  COUNT(*) AS users,
  COUNT(*) FILTER (WHERE a.purchased) AS purchasers,
  CAST(COUNT(*) AS DOUBLE) / s.cohort_users AS user_retention,
  CAST(COUNT(*) FILTER (WHERE a.purchased) AS DOUBLE) / s.cohort_users AS purchaser_share
FROM activity a
JOIN cohorts c ON c.user_id = a.user_id
JOIN sizes s ON s.cohort_week = c.cohort_week
GROUP BY c.cohort_week, CAST((a.week - c.cohort_week) / 7 AS INTEGER), s.cohort_users
