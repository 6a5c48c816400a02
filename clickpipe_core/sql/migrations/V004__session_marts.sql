-- V004: the sessionized marts (clickpipe_core/sessions.py): sessions, acquisition, engagement,
-- devices, the session funnel, page transitions and purchase paths, each replaced one day at a time
-- like V001's, and weekly retention, replaced whole.

CREATE TABLE marts.sessions (
  dt                date          NOT NULL,
  user_id           text          NOT NULL,
  session_id        text          NOT NULL,
  started_at        timestamptz   NOT NULL,
  ended_at          timestamptz   NOT NULL,
  duration_seconds  bigint        NOT NULL,
  events            bigint        NOT NULL,
  page_views        bigint        NOT NULL,
  landing_page      text          NOT NULL,
  exit_page         text          NOT NULL,
  channel           text          NOT NULL,
  source            text          NOT NULL,
  medium            text,
  campaign          text          NOT NULL,
  device_class      text          NOT NULL,
  browser           text          NOT NULL,
  browser_version   text,
  os                text          NOT NULL,
  is_bot            boolean       NOT NULL,
  bounce            boolean       NOT NULL,
  converted         boolean       NOT NULL,
  revenue           numeric(38,2),
  currency          text,
  PRIMARY KEY (dt, user_id, session_id)
);
CREATE INDEX sessions_user ON marts.sessions (user_id, started_at);

CREATE TABLE marts.acquisition_daily (
  dt                date          NOT NULL,
  channel           text          NOT NULL,
  source            text          NOT NULL,
  campaign          text          NOT NULL,
  sessions          bigint        NOT NULL,
  users             bigint        NOT NULL,
  bounces           bigint        NOT NULL,
  conversions       bigint        NOT NULL,
  revenue           numeric(38,2),
  revenue_currency  text,
  PRIMARY KEY (dt, channel, source, campaign)
);

CREATE TABLE marts.engagement_daily (
  dt                 date             NOT NULL,
  duration_bucket    text             NOT NULL,
  bucket_order       integer          NOT NULL,
  sessions           bigint           NOT NULL,
  page_views         bigint           NOT NULL,
  bounces            bigint           NOT NULL,
  pages_per_session  double precision NOT NULL,
  bounce_rate        double precision NOT NULL,
  PRIMARY KEY (dt, duration_bucket)
);

CREATE TABLE marts.devices_daily (
  dt            date   NOT NULL,
  device_class  text   NOT NULL,
  browser       text   NOT NULL,
  os            text   NOT NULL,
  sessions      bigint NOT NULL,
  users         bigint NOT NULL,
  bounces       bigint NOT NULL,
  conversions   bigint NOT NULL,
  PRIMARY KEY (dt, device_class, browser, os)
);

CREATE TABLE marts.session_funnel_daily (
  dt                  date             NOT NULL,
  step                integer          NOT NULL,
  event_type          text             NOT NULL,
  sessions            bigint           NOT NULL,
  rate_from_previous  double precision,
  rate_from_first     double precision,
  PRIMARY KEY (dt, step)
);

CREATE TABLE marts.page_transitions_daily (
  dt               date    NOT NULL,
  transition_rank  integer NOT NULL,
  from_page        text    NOT NULL,
  to_page          text    NOT NULL,
  transitions      bigint  NOT NULL,
  sessions         bigint  NOT NULL,
  day_transitions  bigint  NOT NULL,
  PRIMARY KEY (dt, transition_rank),
  UNIQUE (dt, from_page, to_page)
);

CREATE TABLE marts.purchase_paths_daily (
  dt            date    NOT NULL,
  path_rank     integer NOT NULL,
  path          text    NOT NULL,
  sessions      bigint  NOT NULL,
  day_sessions  bigint  NOT NULL,
  PRIMARY KEY (dt, path_rank),
  UNIQUE (dt, path)
);

-- Rebuilt whole (partition '*' in partition_loads), like marts.users.
CREATE TABLE marts.retention_weekly (
  cohort_week      date             NOT NULL,
  weeks_since      integer          NOT NULL,
  cohort_users     bigint           NOT NULL,
  users            bigint           NOT NULL,
  purchasers       bigint           NOT NULL,
  user_retention   double precision NOT NULL,
  purchaser_share  double precision NOT NULL,
  PRIMARY KEY (cohort_week, weeks_since)
);
