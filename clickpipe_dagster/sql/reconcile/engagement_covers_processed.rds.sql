-- Sessions per day in marts.engagement_daily plus the day's bot sessions of marts.sessions (which
-- engagement leaves out), for the days checked (first and last day are the parameters)
SELECT e.dt, e.sessions + (SELECT COUNT(*) FROM marts.sessions s WHERE s.is_bot AND s.dt = e.dt) AS sessions
FROM (
  SELECT dt, SUM(sessions) AS sessions
  FROM marts.engagement_daily
  WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
  GROUP BY dt
) e
