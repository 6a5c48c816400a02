-- Sessions per day of start (first and last day are the parameters), derived over the processed clicks
-- by the session rule of clickpipe_core/sessions.py written again in the common dialect (DuckDB, Athena):
-- a (user_id, session_id) in ts order, cut where a gap exceeds 30 minutes, read over the days around.
-- Bots included: the parser that flags them does not run here. Columns: dt, sessions, conversions,
-- viewed_sessions (with a page view) and transitions (page views of a session less one, summed).
WITH bounds AS (
  SELECT CAST(? AS DATE) AS first_day, CAST(? AS DATE) AS last_day
), ordered AS (
  SELECT
    c.user_id, c.session_id, c.event_id, c.event_type, c.ts,
    LAG(c.ts) OVER (PARTITION BY c.user_id, c.session_id ORDER BY c.ts, c.event_id) AS previous_ts
  FROM clicks c
  CROSS JOIN bounds b
  WHERE CAST(c.dt AS DATE) BETWEEN b.first_day - INTERVAL '1' DAY AND b.last_day + INTERVAL '1' DAY
), parted AS (
  SELECT
    *,
    SUM(CASE WHEN previous_ts IS NULL OR ts > previous_ts + INTERVAL '30' MINUTE THEN 1 ELSE 0 END)
      OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS part
  FROM ordered
), per_session AS (
  SELECT
    user_id, session_id, part, MIN(ts) AS started_at,
    MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS converted,
    SUM(CASE WHEN event_type = 'page_view' THEN 1 ELSE 0 END) AS page_views
  FROM parted
  GROUP BY user_id, session_id, part
)
SELECT
  CAST(s.started_at AS DATE) AS dt,
  COUNT(*) AS sessions,
  SUM(s.converted) AS conversions,
  SUM(CASE WHEN s.page_views > 0 THEN 1 ELSE 0 END) AS viewed_sessions,
  SUM(CASE WHEN s.page_views > 0 THEN s.page_views - 1 ELSE 0 END) AS transitions
FROM per_session s
CROSS JOIN bounds b
WHERE CAST(s.started_at AS DATE) BETWEEN b.first_day AND b.last_day
GROUP BY CAST(s.started_at AS DATE)
