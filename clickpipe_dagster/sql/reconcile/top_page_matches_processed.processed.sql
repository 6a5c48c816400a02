-- The largest page_view count of any page, per day, in the processed zone.
SELECT dt, MAX(views) AS top_views
FROM (
  SELECT CAST(dt AS DATE) AS dt, page, COUNT(*) AS views
  FROM clicks
  WHERE event_type = 'page_view' AND dt BETWEEN ? AND ?
  GROUP BY dt, page
) pages
GROUP BY dt
