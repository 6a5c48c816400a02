-- Completed orders and revenue per currency of snapshot users who paid in one currency only
-- (users with several currencies have no single lifetime revenue in marts.users).
WITH currencies AS (
  SELECT user_id, COUNT(DISTINCT currency) AS n
  FROM transactions
  WHERE status = 'completed'
  GROUP BY user_id
)
SELECT t.currency, COUNT(*) AS orders, SUM(t.amount) AS revenue
FROM transactions t
JOIN users u ON u.user_id = t.user_id
JOIN currencies c ON c.user_id = t.user_id
WHERE t.status = 'completed' AND c.n = 1
GROUP BY t.currency
