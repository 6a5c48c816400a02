-- Distinct users of every processed click (bots included: the parser that flags them does not run here)
SELECT COUNT(DISTINCT user_id) AS users FROM clicks
