-- Derived table sessions: one row per session of session_events (session_events.sql) that starts on
-- one of the run's days; its device and acquisition are its first event's enrichment columns (written
-- by Job 1, clickpipe_core/enrichment.py). Rules: clickpipe_core/sessions.py.
-- DuckDB only (Job 2's one engine for the sessionized marts).
WITH per_session AS (
  SELECT
    session_key,
    user_id,
    MIN(ts) AS started_at,
    MAX(ts) AS ended_at,
    COUNT(*) AS events,
    COUNT(*) FILTER (WHERE event_type = 'page_view') AS page_views,
    COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    arg_min(page, seq) AS first_page,
    arg_min(page, seq) FILTER (WHERE event_type = 'page_view') AS first_view,
    arg_max(page, seq) FILTER (WHERE event_type = 'page_view') AS last_view,
    arg_max(page, seq) AS last_page,
    SUM(COALESCE(TRY_CAST(json_extract_string(properties, '$.revenue') AS DECIMAL(38, 2)), 0))
      FILTER (WHERE event_type = 'purchase') AS purchase_revenue,
    COUNT(DISTINCT upper(trim(json_extract_string(properties, '$.currency')))) FILTER (WHERE event_type = 'purchase') AS currencies,
    MIN(upper(trim(json_extract_string(properties, '$.currency')))) FILTER (WHERE event_type = 'purchase') AS currency
  FROM session_events
  GROUP BY session_key, user_id
)
SELECT
  CAST(s.started_at AS DATE) AS dt,
  s.user_id,
  s.session_key AS session_id,
  s.started_at,
  s.ended_at,
  CAST(date_diff('millisecond', s.started_at, s.ended_at) / 1000 AS BIGINT) AS duration_seconds,
  s.events,
  s.page_views,
  COALESCE(NULLIF(split_part(split_part(COALESCE(s.first_view, s.first_page), '?', 1), '#', 1), ''), '/') AS landing_page,
  COALESCE(NULLIF(split_part(split_part(COALESCE(s.last_view, s.last_page), '?', 1), '#', 1), ''), '/') AS exit_page,
  f.channel,
  f.source,
  f.medium,
  f.campaign,
  f.device_class,
  f.browser,
  f.browser_version,
  f.os,
  f.is_bot,
  s.events = 1 AS bounce,
  s.purchases > 0 AS converted,
  CASE WHEN s.currencies > 1 THEN NULL ELSE COALESCE(s.purchase_revenue, CAST(0 AS DECIMAL(38, 2))) END AS revenue,
  CASE WHEN s.currencies > 1 THEN 'MIXED' ELSE s.currency END AS currency
FROM per_session s
JOIN session_events f ON f.session_key = s.session_key AND f.user_id = s.user_id AND f.seq = 1
WHERE {day_filter}
