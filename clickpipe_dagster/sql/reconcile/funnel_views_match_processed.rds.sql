-- Sessions at the funnel's first step (a page view) per day, plus the day's bot sessions with a page view
-- of marts.sessions (which the funnel leaves out), for the days checked (first and last day are the parameters)
SELECT f.dt, f.sessions + (SELECT COUNT(*) FROM marts.sessions s WHERE s.is_bot AND s.page_views > 0 AND s.dt = f.dt) AS viewed_sessions
FROM marts.session_funnel_daily f
WHERE f.dt BETWEEN CAST(%s AS date) AND CAST(%s AS date) AND f.step = 1
