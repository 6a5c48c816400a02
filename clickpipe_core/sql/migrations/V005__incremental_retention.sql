-- V005: weekly retention is maintained incrementally. Each load of a day's session marts replaces that
-- day's rows of marts.user_visits_daily (per day of session start and user: a session that is not a
-- bot's, and whether one bought) and, in the same transaction, updates marts.retention_weekly for the
-- users with visits that day before or after the load, from their visit rows only (indexed by user
-- and day: a user's first visit and their visits of one week are index lookups).
-- The mart is a function of the visits, which start empty here: so does the mart. The next retention
-- run (Job 2 --marts retention) loads the visits of every processed day never loaded.

CREATE TABLE marts.user_visits_daily (
  dt         date    NOT NULL,
  user_id    text    NOT NULL,
  purchased  boolean NOT NULL,
  PRIMARY KEY (dt, user_id)
);
CREATE INDEX user_visits_daily_user ON marts.user_visits_daily (user_id, dt);

TRUNCATE marts.retention_weekly;
DELETE FROM marts.partition_loads WHERE mart = 'retention_weekly';
