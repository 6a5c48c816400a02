-- V002: sums of money are numeric(38,2). One amount fits numeric(18,2) (the contract allows 16
-- integer digits), but a sum of two such amounts does not: revenue and refunded_amount of
-- revenue_daily and lifetime_revenue of users hold sums. avg_order_value stays numeric(18,2): an
-- average is never larger than the largest amount. Raising a numeric's precision with the same
-- scale keeps every stored value as it is.

ALTER TABLE marts.revenue_daily
  ALTER COLUMN revenue TYPE numeric(38,2),
  ALTER COLUMN refunded_amount TYPE numeric(38,2);

ALTER TABLE marts.users
  ALTER COLUMN lifetime_revenue TYPE numeric(38,2);
