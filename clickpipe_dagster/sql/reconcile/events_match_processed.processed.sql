-- Click events per day in the processed zone (Athena or DuckDB), for the days checked (first and last day are the parameters)
SELECT CAST(dt AS DATE) AS dt, event_type, COUNT(*) AS events
FROM clicks
WHERE dt BETWEEN ? AND ?
GROUP BY dt, event_type
