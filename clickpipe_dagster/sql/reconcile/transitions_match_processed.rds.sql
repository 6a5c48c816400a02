-- All page-to-page transitions per day, plus those of the day's bot sessions of marts.sessions (page views
-- less one; the transitions mart leaves bots out), for the days checked (first and last day are the parameters)
SELECT t.dt, t.day_transitions + (
  SELECT COALESCE(SUM(s.page_views - 1), 0) FROM marts.sessions s WHERE s.is_bot AND s.page_views > 0 AND s.dt = t.dt
) AS transitions
FROM marts.page_transitions_daily t
WHERE t.dt BETWEEN CAST(%s AS date) AND CAST(%s AS date) AND t.transition_rank = 1
