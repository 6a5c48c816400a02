-- Sessions per day in marts.funnel_daily, for the days checked (first and last day are the parameters)
SELECT dt, sessions
FROM marts.funnel_daily
WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
