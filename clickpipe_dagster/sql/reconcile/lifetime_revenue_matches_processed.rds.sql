-- The same from marts.users.
SELECT revenue_currency AS currency, SUM(lifetime_orders) AS orders, SUM(lifetime_revenue) AS revenue
FROM marts.users
WHERE revenue_currency IS NOT NULL AND revenue_currency <> 'MIXED'
GROUP BY revenue_currency
