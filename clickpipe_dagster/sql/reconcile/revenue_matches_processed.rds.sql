-- The same totals from marts.revenue_daily (summed over countries).
SELECT dt, currency, SUM(transactions) AS transactions, SUM(orders) AS orders, SUM(revenue) AS revenue
FROM marts.revenue_daily
WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)
GROUP BY dt, currency
