-- Users in the current snapshot.
SELECT COUNT(*) AS users FROM users
