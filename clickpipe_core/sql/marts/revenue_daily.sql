-- Mart revenue_daily: revenue per UTC day, customer country and currency.
-- Revenue = completed transactions only: pending, failed and refunded payments are not revenue.
-- Amounts stay in their own currency (no FX). Country is the user's current country, 'ZZ' if unknown.
-- Sums are DECIMAL(38, 2): two amounts of the largest size the contract allows already need 17
-- integer digits. Reads: transactions, users. Common dialect (DuckDB, Athena/Trino, Spark SQL).
WITH per_group AS (
  SELECT
    t.dt,
    COALESCE(u.country, 'ZZ') AS country,
    t.currency,
    COUNT(*) AS transactions,
    CAST(SUM(CASE WHEN t.status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS orders,
    CAST(SUM(CASE WHEN t.status = 'completed' THEN t.amount ELSE 0 END) AS DECIMAL(38, 2)) AS revenue,
    CAST(SUM(CASE WHEN t.status = 'refunded' THEN t.amount ELSE 0 END) AS DECIMAL(38, 2)) AS refunded_amount
  FROM transactions t
  LEFT JOIN users u ON u.user_id = t.user_id
  GROUP BY t.dt, COALESCE(u.country, 'ZZ'), t.currency
),
-- avg_order_value = revenue / orders rounded half up to the cent, exactly: q = floor((2c + n) / (2n))
-- for c cents and n orders. DuckDB divides decimals in double precision, which is exact only up to
-- 2^53 (about 90 trillion in cents), so q is estimated in double, corrected by the quotient of the
-- exact remainder (small, so double gets it right but for the last unit), and settled by exact
-- comparisons. Spark and Trino divide decimals exactly; this gives them the same answer.
cents AS (
  SELECT *, CAST(revenue * 100 AS DECIMAL(38, 0)) AS c FROM per_group WHERE orders > 0
), estimated AS (
  SELECT *, CAST(FLOOR((2 * CAST(c AS DOUBLE) + orders) / (2 * orders)) AS DECIMAL(38, 0)) AS q0 FROM cents
), refined AS (
  SELECT *, q0 + CAST(FLOOR(CAST(2 * c + orders - 2 * orders * q0 AS DOUBLE) / (2 * orders)) AS DECIMAL(38, 0)) AS q1
  FROM estimated
), averages AS (
  SELECT
    dt, country, currency,
    q1 + CASE WHEN 2 * orders * (q1 + 1) <= 2 * c + orders THEN 1 WHEN 2 * orders * q1 > 2 * c + orders THEN -1 ELSE 0 END
      AS aov_cents
  FROM refined
)
SELECT
  CAST(g.dt AS DATE) AS dt,
  g.country,
  g.currency,
  g.transactions,
  g.orders,
  g.revenue,
  -- cents to the amount by an exact decimal product (a division would be a double in DuckDB)
  CAST(CAST(a.aov_cents AS DECIMAL(20, 0)) * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(18, 2)) AS avg_order_value,
  g.refunded_amount
FROM per_group g
LEFT JOIN averages a ON a.dt = g.dt AND a.country = g.country AND a.currency = g.currency
