-- Mart revenue_daily: revenue per UTC day, customer country and currency.
-- Revenue = completed transactions only: pending, failed and refunded payments are not revenue.
-- Amounts stay in their own currency (no FX). Country is the user's current country, 'ZZ' if unknown.
-- Reads: transactions, users. Common dialect (DuckDB, Athena/Trino, Spark SQL).
WITH per_group AS (
  SELECT
    t.dt,
    COALESCE(u.country, 'ZZ') AS country,
    t.currency,
    COUNT(*) AS transactions,
    CAST(SUM(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS orders,
    CAST(SUM(CASE WHEN t.status = 'completed' THEN t.amount ELSE 0 END) AS DECIMAL(18, 2)) AS revenue,
    CAST(SUM(CASE WHEN t.status = 'refunded' THEN t.amount ELSE 0 END) AS DECIMAL(18, 2)) AS refunded_amount,
    CAST(SUM(CASE WHEN t.status = 'completed' THEN t.amount ELSE 0 END) * 100 AS BIGINT) AS revenue_cents
  FROM transactions t
  LEFT JOIN users u ON u.user_id = t.user_id
  GROUP BY t.dt, COALESCE(u.country, 'ZZ'), t.currency
)
SELECT
  CAST(dt AS DATE) AS dt,
  country,
  currency,
  transactions,
  orders,
  revenue,
  -- revenue / orders rounded half up to the cent, computed on whole cents: DuckDB divides decimals in
  -- double precision (0.575 would round to 0.57), Spark and Trino exactly. (2c + n) / (2n) is exact in
  -- double whenever it is a whole number, and Trino's integer division truncates, so all three agree.
  CASE
    WHEN orders > 0 THEN CAST(CAST(FLOOR((2 * revenue_cents + orders) / (2 * orders)) AS DECIMAL(18, 2)) / 100 AS DECIMAL(18, 2))
  END AS avg_order_value,
  refunded_amount
FROM per_group
