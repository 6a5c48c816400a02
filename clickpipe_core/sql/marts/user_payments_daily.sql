-- User activity (internal, for the incremental users dimension): one row per UTC day and user with
-- their first and last transaction (any status) and their completed orders and revenue that day, with
-- the smallest and largest currency of those orders (equal when they paid in one currency).
-- Reads: transactions. Common dialect (DuckDB, Athena/Trino, Spark SQL).
SELECT
  dt,
  user_id,
  MIN(transaction_ts) AS first_ts,
  MAX(transaction_ts) AS last_ts,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS orders,
  CAST(SUM(CASE WHEN status = 'completed' THEN amount ELSE 0 END) AS DECIMAL(38, 2)) AS revenue,
  MIN(CASE WHEN status = 'completed' THEN currency END) AS min_currency,
  MAX(CASE WHEN status = 'completed' THEN currency END) AS max_currency
FROM transactions
GROUP BY dt, user_id
