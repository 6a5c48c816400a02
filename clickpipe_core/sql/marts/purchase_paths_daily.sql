-- Mart purchase_paths_daily: the 20 most common paths to a purchase per day of session start: the
-- last (up to) four pages viewed before the session's first purchase, repeats of the same page in a
-- row counted once; '(no page view)' when it bought without one. Bots left out.
-- Reads: sessions, session_events (DuckDB, Job 2's one engine for sessionized marts).
WITH bought AS (
  SELECT e.user_id, e.session_key, MIN(e.seq) AS purchase_seq, MIN(s.dt) AS dt
  FROM session_events e
  JOIN sessions s ON s.session_id = e.session_key AND s.user_id = e.user_id
  WHERE e.event_type = 'purchase' AND NOT s.is_bot
  GROUP BY e.user_id, e.session_key
), views AS (
  SELECT
    b.dt, b.user_id, b.session_key, e.seq,
    COALESCE(NULLIF(split_part(split_part(e.page, '?', 1), '#', 1), ''), '/') AS page
  FROM bought b
  JOIN session_events e ON e.user_id = b.user_id AND e.session_key = b.session_key
  WHERE e.event_type = 'page_view' AND e.seq < b.purchase_seq
), changes AS (
  SELECT *, LAG(page) OVER (PARTITION BY user_id, session_key ORDER BY seq) AS previous_page FROM views
), paths AS (
  SELECT b.dt, b.user_id, b.session_key,
    COALESCE(array_to_string(list(c.page ORDER BY c.seq)[-4:], ' → '), '(no page view)') AS path,
    COUNT(c.page) AS pages
  FROM bought b
  LEFT JOIN changes c
    ON c.user_id = b.user_id AND c.session_key = b.session_key AND c.previous_page IS DISTINCT FROM c.page
  GROUP BY b.dt, b.user_id, b.session_key
), counted AS (
  SELECT dt, path, COUNT(*) AS sessions, CAST(AVG(pages) AS DOUBLE) AS avg_pages FROM paths GROUP BY dt, path
), ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY dt ORDER BY sessions DESC, path) AS path_rank,
    SUM(sessions) OVER (PARTITION BY dt) AS day_sessions
  FROM counted
)
SELECT dt, CAST(path_rank AS INTEGER) AS path_rank, path, sessions, CAST(day_sessions AS BIGINT) AS day_sessions
FROM ranked
WHERE path_rank <= 20
