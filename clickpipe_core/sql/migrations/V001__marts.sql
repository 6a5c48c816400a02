-- V001: the reporting marts of Glue Job 2 and the partition load log.
-- Applied once by glue_scripts/pg_load.py, in one transaction, recorded in marts.schema_migrations.
-- Never edit an applied migration: add V002__... instead (the checksum of applied files is verified).

CREATE SCHEMA IF NOT EXISTS marts;

CREATE TABLE marts.daily_events (
  dt          date   NOT NULL,
  event_type  text   NOT NULL,
  events      bigint NOT NULL,
  users       bigint NOT NULL,
  sessions    bigint NOT NULL,
  PRIMARY KEY (dt, event_type)
);

CREATE TABLE marts.funnel_daily (
  dt                     date   NOT NULL PRIMARY KEY,
  sessions               bigint NOT NULL,
  viewed_sessions        bigint NOT NULL,
  cart_sessions          bigint NOT NULL,
  purchase_sessions      bigint NOT NULL,
  view_to_cart_rate      double precision,
  cart_to_purchase_rate  double precision,
  view_to_purchase_rate  double precision
);

CREATE TABLE marts.revenue_daily (
  dt               date          NOT NULL,
  country          text          NOT NULL,
  currency         text          NOT NULL,
  transactions     bigint        NOT NULL,
  orders           bigint        NOT NULL,
  revenue          numeric(18,2) NOT NULL,
  avg_order_value  numeric(18,2),
  refunded_amount  numeric(18,2) NOT NULL,
  PRIMARY KEY (dt, country, currency)
);
CREATE INDEX revenue_daily_country_dt ON marts.revenue_daily (country, dt);

CREATE TABLE marts.top_pages_daily (
  dt         date    NOT NULL,
  page_rank  integer NOT NULL,
  page       text    NOT NULL,
  views      bigint  NOT NULL,
  users      bigint  NOT NULL,
  sessions   bigint  NOT NULL,
  PRIMARY KEY (dt, page_rank),
  UNIQUE (dt, page)
);

CREATE TABLE marts.users (
  user_id            text          NOT NULL PRIMARY KEY,
  country            text          NOT NULL,
  plan               text,
  signup_date        date          NOT NULL,
  first_seen         timestamptz,
  last_seen          timestamptz,
  lifetime_events    bigint        NOT NULL,
  lifetime_sessions  bigint        NOT NULL,
  lifetime_orders    bigint        NOT NULL,
  lifetime_revenue   numeric(18,2),
  revenue_currency   text
);
CREATE INDEX users_country ON marts.users (country);
CREATE INDEX users_last_seen ON marts.users (last_seen);

-- One row per loaded partition (or '*' for a mart replaced whole): an empty day is a loaded day
-- with 0 rows, not a missing one. Written in the same transaction as the data.
CREATE TABLE marts.partition_loads (
  mart       text        NOT NULL,
  partition  text        NOT NULL,
  row_count  bigint      NOT NULL,
  loaded_at  timestamptz NOT NULL DEFAULT now(),
  run_id     text,
  PRIMARY KEY (mart, partition)
);
