-- Converted sessions per day behind marts.purchase_paths_daily (all of them, top 20 or not), plus the day's
-- converted bot sessions of marts.sessions, for the days checked (first and last day are the parameters)
SELECT p.dt, p.day_sessions + (SELECT COUNT(*) FROM marts.sessions s WHERE s.is_bot AND s.converted AND s.dt = p.dt) AS conversions
FROM marts.purchase_paths_daily p
WHERE p.dt BETWEEN CAST(%s AS date) AND CAST(%s AS date) AND p.path_rank = 1
