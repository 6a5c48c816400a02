-- Users of all cohorts of marts.retention_weekly, plus the users of marts.sessions with bot sessions only
-- (retention leaves bots out; a user with any human session is in a cohort)
SELECT
  (SELECT COALESCE(SUM(cohort_users), 0) FROM marts.retention_weekly WHERE weeks_since = 0)
  + (SELECT COUNT(DISTINCT b.user_id) FROM marts.sessions b
     WHERE b.is_bot AND NOT EXISTS (SELECT 1 FROM marts.sessions h WHERE h.user_id = b.user_id AND NOT h.is_bot)) AS users
