-- Revenue (completed transactions) per currency over every loaded day, from marts.revenue_daily.
SELECT currency, SUM(orders) AS orders, SUM(revenue) AS revenue,
       CASE WHEN SUM(orders) > 0 THEN ROUND(SUM(revenue) / SUM(orders), 2) END AS avg_order_value
FROM marts.revenue_daily
GROUP BY currency
ORDER BY SUM(revenue) DESC
