-- Revenue (completed transactions) per day and currency, straight from the processed zone.
-- clickpipe query --file clickpipe_dagster/sql/queries/revenue_by_day.sql
SELECT dt, currency, COUNT(*) AS orders, SUM(amount) AS revenue
FROM transactions
WHERE status = 'completed'
GROUP BY dt, currency
ORDER BY dt, currency
