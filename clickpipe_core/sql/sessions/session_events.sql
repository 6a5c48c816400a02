-- Derived table session_events: every click of the run's window (view session_clicks, event days
-- D-1 .. D+1 of the run's days) with its session, by the rule of clickpipe_core/sessions.py:
-- a session is the events of one (user_id, session_id), ordered by ts (then event_id, so that ties
-- and out-of-order arrivals order the same way every time); a gap of more than 30 minutes starts a
-- new one. The first part keeps the client's session_id, later parts get '#2', '#3', ...
-- Each event carries Job 1's enrichment columns (clickpipe_core/enrichment.py).
-- DuckDB only (Job 2's one engine for the sessionized marts).
WITH ordered AS (
  SELECT
    c.*,
    LAG(ts) OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id) AS previous_ts
  FROM session_clicks c
), parted AS (
  SELECT
    *,
    SUM(CASE WHEN previous_ts IS NULL OR ts - previous_ts > INTERVAL {gap_minutes} MINUTE THEN 1 ELSE 0 END)
      OVER (PARTITION BY user_id, session_id ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING) AS part
  FROM ordered
)
SELECT
  CASE WHEN part = 1 THEN session_id ELSE session_id || '#' || CAST(part AS VARCHAR) END AS session_key,
  user_id,
  event_id,
  event_type,
  page,
  referrer,
  user_agent,
  ts,
  properties,
  browser,
  browser_version,
  os,
  device_class,
  is_bot,
  channel,
  source,
  medium,
  campaign,
  ROW_NUMBER() OVER (PARTITION BY user_id, session_id, part ORDER BY ts, event_id) AS seq
FROM parted
