-- Mart page_transitions_daily: the 100 most frequent page-to-next-page transitions per day of
-- session start (page views in session order, paths without query string), bots left out.
-- Reads: sessions, session_events (DuckDB, Job 2's one engine for sessionized marts).
WITH views AS (
  SELECT
    s.dt,
    e.user_id,
    e.session_key,
    COALESCE(NULLIF(split_part(split_part(e.page, '?', 1), '#', 1), ''), '/') AS page,
    e.seq
  FROM session_events e
  JOIN sessions s ON s.session_id = e.session_key AND s.user_id = e.user_id
  WHERE e.event_type = 'page_view' AND NOT s.is_bot
), steps AS (
  SELECT dt, user_id, session_key, page AS from_page, LEAD(page) OVER (PARTITION BY user_id, session_key ORDER BY seq) AS to_page
  FROM views
), counted AS (
  SELECT dt, from_page, to_page, COUNT(*) AS transitions, COUNT(DISTINCT (user_id, session_key)) AS sessions
  FROM steps
  WHERE to_page IS NOT NULL
  GROUP BY dt, from_page, to_page
), ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY dt ORDER BY transitions DESC, from_page, to_page) AS transition_rank,
    SUM(transitions) OVER (PARTITION BY dt) AS day_transitions
  FROM counted
)
SELECT dt, CAST(transition_rank AS INTEGER) AS transition_rank, from_page, to_page, transitions, sessions,
  CAST(day_transitions AS BIGINT) AS day_transitions
FROM ranked
WHERE transition_rank <= 100
