-- Click events per day in marts.daily_events (PostgreSQL), for the days checked (first and last day are the parameters)
SELECT dt, event_type, events
FROM marts.daily_events
WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
