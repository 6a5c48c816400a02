-- Mart funnel_daily: the session funnel page_view -> add_to_cart -> purchase per UTC day.
-- A session reaches a step when it has that event at or after the previous step's first event,
-- within the same day. Rates are NULL when their denominator is zero.
-- Reads: clicks. Common dialect (DuckDB, Athena/Trino, Spark SQL).
WITH viewed AS (
  SELECT dt, session_id, MIN(ts) AS reached_at
  FROM clicks
  WHERE event_type = 'page_view'
  GROUP BY dt, session_id
), carted AS (
  SELECT v.dt, v.session_id, MIN(c.ts) AS reached_at
  FROM viewed v
  JOIN clicks c ON c.dt = v.dt AND c.session_id = v.session_id
  WHERE c.event_type = 'add_to_cart' AND c.ts >= v.reached_at
  GROUP BY v.dt, v.session_id
), purchased AS (
  SELECT k.dt, k.session_id
  FROM carted k
  JOIN clicks c ON c.dt = k.dt AND c.session_id = k.session_id
  WHERE c.event_type = 'purchase' AND c.ts >= k.reached_at
  GROUP BY k.dt, k.session_id
), steps AS (
  SELECT dt, 1 AS step FROM viewed
  UNION ALL SELECT dt, 2 AS step FROM carted
  UNION ALL SELECT dt, 3 AS step FROM purchased
), step_counts AS (
  SELECT
    dt,
    CAST(SUM(CASE WHEN step = 1 THEN 1 ELSE 0 END) AS BIGINT) AS viewed_sessions,
    CAST(SUM(CASE WHEN step = 2 THEN 1 ELSE 0 END) AS BIGINT) AS cart_sessions,
    CAST(SUM(CASE WHEN step = 3 THEN 1 ELSE 0 END) AS BIGINT) AS purchase_sessions
  FROM steps
  GROUP BY dt
), day_sessions AS (
  SELECT dt, COUNT(DISTINCT session_id) AS sessions
  FROM clicks
  GROUP BY dt
), funnel AS (
  SELECT
    d.dt,
    d.sessions,
    COALESCE(s.viewed_sessions, 0) AS viewed_sessions,
    COALESCE(s.cart_sessions, 0) AS cart_sessions,
    COALESCE(s.purchase_sessions, 0) AS purchase_sessions
  FROM day_sessions d
  LEFT JOIN step_counts s ON s.dt = d.dt
)
SELECT
  CAST(dt AS DATE) AS dt,
  sessions,
  viewed_sessions,
  cart_sessions,
  purchase_sessions,
  CASE WHEN viewed_sessions > 0 THEN CAST(cart_sessions AS DOUBLE) / viewed_sessions END AS view_to_cart_rate,
  CASE WHEN cart_sessions > 0 THEN CAST(purchase_sessions AS DOUBLE) / cart_sessions END AS cart_to_purchase_rate,
  CASE WHEN viewed_sessions > 0 THEN CAST(purchase_sessions AS DOUBLE) / viewed_sessions END AS view_to_purchase_rate
FROM funnel
