-- The views of the rank-1 page per day in marts.top_pages_daily.
SELECT dt, views AS top_views
FROM marts.top_pages_daily
WHERE page_rank = 1 AND dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
