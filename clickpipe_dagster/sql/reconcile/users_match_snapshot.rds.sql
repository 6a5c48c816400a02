-- Users in marts.users.
SELECT COUNT(*) AS users FROM marts.users
