-- Mart users: the user dimension, one row per user of the current users snapshot, no PII.
-- Lifetime activity over every processed day: first/last seen over clicks and transactions,
-- events and sessions from clicks, orders and revenue from completed transactions. A user who paid
-- in more than one currency gets revenue_currency 'MIXED' and lifetime_revenue NULL (no FX).
-- Revenue sums are DECIMAL(38, 2), like revenue_daily's.
-- Reads: users, clicks, transactions. Common dialect (DuckDB, Athena/Trino, Spark SQL).
WITH click_activity AS (
  SELECT
    user_id,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts,
    COUNT(*) AS events,
    COUNT(DISTINCT session_id) AS sessions
  FROM clicks
  GROUP BY user_id
), payment_activity AS (
  SELECT
    user_id,
    MIN(transaction_ts) AS first_ts,
    MAX(transaction_ts) AS last_ts,
    CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS orders,
    CAST(SUM(CASE WHEN status = 'completed' THEN amount ELSE 0 END) AS DECIMAL(38, 2)) AS revenue,
    COUNT(DISTINCT CASE WHEN status = 'completed' THEN currency END) AS currencies,
    MIN(CASE WHEN status = 'completed' THEN currency END) AS currency
  FROM transactions
  GROUP BY user_id
)
SELECT
  u.user_id,
  u.country,
  u.plan,
  u.signup_date,
  CASE
    WHEN c.first_ts IS NULL THEN p.first_ts
    WHEN p.first_ts IS NULL OR c.first_ts <= p.first_ts THEN c.first_ts
    ELSE p.first_ts
  END AS first_seen,
  CASE
    WHEN c.last_ts IS NULL THEN p.last_ts
    WHEN p.last_ts IS NULL OR c.last_ts >= p.last_ts THEN c.last_ts
    ELSE p.last_ts
  END AS last_seen,
  COALESCE(c.events, 0) AS lifetime_events,
  COALESCE(c.sessions, 0) AS lifetime_sessions,
  COALESCE(p.orders, 0) AS lifetime_orders,
  CASE WHEN p.currencies > 1 THEN NULL ELSE COALESCE(p.revenue, CAST(0 AS DECIMAL(38, 2))) END AS lifetime_revenue,
  CASE WHEN p.currencies > 1 THEN 'MIXED' ELSE p.currency END AS revenue_currency
FROM users u
LEFT JOIN click_activity c ON c.user_id = u.user_id
LEFT JOIN payment_activity p ON p.user_id = u.user_id
