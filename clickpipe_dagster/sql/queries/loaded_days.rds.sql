-- Days loaded into the daily marts (an empty day is loaded with 0 rows), from marts.partition_loads.
SELECT MIN(partition) AS first_day, MAX(partition) AS last_day, COUNT(DISTINCT partition) AS days,
       COUNT(DISTINCT CASE WHEN row_count = 0 THEN mart || partition END) AS empty_mart_days
FROM marts.partition_loads
WHERE partition <> '*'
