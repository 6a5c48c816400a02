-- Transactions, orders and revenue (completed amounts) per day and currency in the processed zone.
SELECT
  CAST(dt AS DATE) AS dt,
  currency,
  COUNT(*) AS transactions,
  SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS orders,
  SUM(CASE WHEN status = 'completed' THEN amount ELSE 0 END) AS revenue
FROM transactions
WHERE dt BETWEEN ? AND ?
GROUP BY dt, currency
