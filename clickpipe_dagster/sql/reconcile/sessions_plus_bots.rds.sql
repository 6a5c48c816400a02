-- Sessions and conversions per day in a mart that leaves bots out ({table}: acquisition_daily or
-- devices_daily), plus the day's bot sessions of marts.sessions, for the days checked (first and last
-- day are the parameters)
WITH humans AS (
  SELECT dt, SUM(sessions) AS sessions, SUM(conversions) AS conversions
  FROM {table}
  WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
  GROUP BY dt
), bots AS (
  SELECT dt, COUNT(*) AS sessions, SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS conversions
  FROM marts.sessions
  WHERE is_bot AND dt IN (SELECT dt FROM humans)
  GROUP BY dt
)
SELECT h.dt, h.sessions + COALESCE(b.sessions, 0) AS sessions, h.conversions + COALESCE(b.conversions, 0) AS conversions
FROM humans h
LEFT JOIN bots b ON b.dt = h.dt
