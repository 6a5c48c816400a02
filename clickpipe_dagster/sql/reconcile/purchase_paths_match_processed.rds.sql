-- Converted sessions per day behind marts.purchase_paths_daily (all of them, top 20 or not; 0 on a day with
-- sessions but no purchase, which has no path), plus the day's converted bot sessions of marts.sessions, for
-- each day with sessions checked (first and last day are the parameters)
SELECT s.dt,
       COALESCE(MAX(p.day_sessions), 0) + SUM(CASE WHEN s.is_bot AND s.converted THEN 1 ELSE 0 END) AS conversions
FROM marts.sessions s
LEFT JOIN marts.purchase_paths_daily p ON p.dt = s.dt AND p.path_rank = 1
WHERE s.dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
GROUP BY s.dt
