-- Mart top_pages_daily: the 50 most viewed pages of each UTC day (page_view events).
-- Ties are broken by page path, so the ranking is deterministic.
-- Reads: clicks. Common dialect (DuckDB, Athena/Trino, Spark SQL).
WITH pages AS (
  SELECT
    dt,
    page,
    COUNT(*) AS views,
    COUNT(DISTINCT user_id) AS users,
    COUNT(DISTINCT session_id) AS sessions
  FROM clicks
  WHERE event_type = 'page_view'
  GROUP BY dt, page
), ranked AS (
  SELECT dt, page, views, users, sessions, ROW_NUMBER() OVER (PARTITION BY dt ORDER BY views DESC, page) AS page_rank
  FROM pages
)
SELECT
  CAST(dt AS DATE) AS dt,
  CAST(page_rank AS INTEGER) AS page_rank,
  page,
  views,
  users,
  sessions
FROM ranked
WHERE page_rank <= 50
