-- V003: the users dimension is maintained incrementally. Each daily load replaces its day's rows of
-- these activity tables (in the same transaction as the daily marts) and recomputes marts.users for
-- the users whose activity that day changed only; the users load upserts the snapshot's attributes
-- and computes lifetime activity only for users new to the dimension. Rows are per user and day, so
-- a user's lifetime is an indexed lookup by user_id, whatever the history.

CREATE TABLE marts.user_clicks_daily (
  dt        date        NOT NULL,
  user_id   text        NOT NULL,
  first_ts  timestamptz NOT NULL,
  last_ts   timestamptz NOT NULL,
  events    bigint      NOT NULL,
  PRIMARY KEY (dt, user_id)
);
CREATE INDEX user_clicks_daily_user ON marts.user_clicks_daily (user_id);

CREATE TABLE marts.user_sessions_daily (
  dt          date NOT NULL,
  user_id     text NOT NULL,
  session_id  text NOT NULL,
  PRIMARY KEY (dt, user_id, session_id)
);
CREATE INDEX user_sessions_daily_user ON marts.user_sessions_daily (user_id);

CREATE TABLE marts.user_payments_daily (
  dt            date          NOT NULL,
  user_id       text          NOT NULL,
  first_ts      timestamptz   NOT NULL,
  last_ts       timestamptz   NOT NULL,
  orders        bigint        NOT NULL,
  revenue       numeric(38,2) NOT NULL,
  min_currency  text,
  max_currency  text,
  PRIMARY KEY (dt, user_id)
);
CREATE INDEX user_payments_daily_user ON marts.user_payments_daily (user_id);
