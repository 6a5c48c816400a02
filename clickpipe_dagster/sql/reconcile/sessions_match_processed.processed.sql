-- Distinct sessions per day in the processed zone, for the days checked (first and last day are the parameters)
SELECT CAST(dt AS DATE) AS dt, COUNT(DISTINCT session_id) AS sessions
FROM clicks
WHERE dt BETWEEN ? AND ?
GROUP BY dt
