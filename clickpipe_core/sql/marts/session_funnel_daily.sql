-- Mart session_funnel_daily: the ordered funnel SESSION_FUNNEL_STEPS (clickpipe_core/marts.py fills
-- {funnel_steps}) over whole sessions, by day of start, bots left out. Step k is reached at the first
-- event of its type after the event that reached step k-1 (seq: the session's event order).
-- Reads: sessions, session_events (DuckDB, Job 2's one engine for sessionized marts).
WITH RECURSIVE steps(step, event_type) AS (
  VALUES {funnel_steps}
), people AS (
  SELECT e.session_key, e.user_id, e.event_type, e.seq, s.dt
  FROM session_events e
  JOIN sessions s ON s.session_id = e.session_key AND s.user_id = e.user_id
  WHERE NOT s.is_bot
), reached(dt, user_id, session_key, step, seq) AS (
  SELECT p.dt, p.user_id, p.session_key, 1, MIN(p.seq)
  FROM people p JOIN steps s ON s.step = 1 AND p.event_type = s.event_type
  GROUP BY p.dt, p.user_id, p.session_key
  UNION ALL
  SELECT r.dt, r.user_id, r.session_key, r.step + 1, MIN(p.seq)
  FROM reached r
  JOIN steps s ON s.step = r.step + 1
  JOIN people p ON p.session_key = r.session_key AND p.user_id = r.user_id AND p.event_type = s.event_type AND p.seq > r.seq
  GROUP BY r.dt, r.user_id, r.session_key, r.step
), days AS (
  SELECT DISTINCT dt FROM sessions WHERE NOT is_bot
), counts AS (
  SELECT d.dt, s.step, s.event_type, COUNT(r.session_key) AS sessions
  FROM days d
  CROSS JOIN steps s
  LEFT JOIN reached r ON r.dt = d.dt AND r.step = s.step
  GROUP BY d.dt, s.step, s.event_type
)
SELECT
  dt,
  CAST(step AS INTEGER) AS step,
  event_type,
  sessions,
  CASE WHEN step = 1 THEN 1.0
       WHEN LAG(sessions) OVER (PARTITION BY dt ORDER BY step) > 0
       THEN CAST(sessions AS DOUBLE) / LAG(sessions) OVER (PARTITION BY dt ORDER BY step) END AS rate_from_previous,
  CASE WHEN FIRST_VALUE(sessions) OVER (PARTITION BY dt ORDER BY step) > 0
       THEN CAST(sessions AS DOUBLE) / FIRST_VALUE(sessions) OVER (PARTITION BY dt ORDER BY step) END AS rate_from_first
FROM counts
