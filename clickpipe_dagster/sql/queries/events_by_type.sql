-- Click events per day and type, straight from the processed zone.
SELECT dt, event_type, COUNT(*) AS events, COUNT(DISTINCT session_id) AS sessions
FROM clicks
GROUP BY dt, event_type
ORDER BY dt, event_type
