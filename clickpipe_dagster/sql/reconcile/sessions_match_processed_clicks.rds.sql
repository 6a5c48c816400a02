-- Sessions and converted sessions per day in marts.sessions, bots included (first and last day are the parameters)
SELECT dt, COUNT(*) AS sessions, SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS conversions
FROM marts.sessions
WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
GROUP BY dt
