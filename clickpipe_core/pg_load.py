"""PostgreSQL side of Glue Job 2: versioned migrations and bulk loads that replace a partition.

- ``apply_migrations`` runs ``sql/migrations/V<n>__<name>.sql`` files not applied yet, each in its
  own transaction together with its row in ``marts.schema_migrations`` (under an advisory lock, so
  two jobs starting at once do not race), and refuses to go on if an applied file was edited.
- ``replace_partitions`` loads Arrow tables with ADBC (``adbc_ingest``: binary COPY in C, no
  row-by-row inserts). Each day is replaced in one transaction across every mart given: delete the
  day's rows, COPY the new ones, record the load. A failure anywhere rolls the day back, so readers
  keep seeing the previous rows.
- ``replace_table`` does the same for a mart that is rebuilt whole.
- The users dimension is maintained incrementally (cost by the day, not by the history): a daily
  load that replaces the user activity tables (``marts.USER_ACTIVITY``) for a day recomputes, in the
  same transaction, ``marts.users`` for the users whose activity that day changed, from their
  activity rows only (an indexed lookup by user); ``refresh_users`` upserts the users snapshot's
  attributes and computes lifetime activity only for users new to the dimension.
- Weekly retention is maintained the same way: a load that replaces a day of visits
  (``marts.USER_VISITS_DAILY``, with the session marts) takes away, in the same transaction, the
  retention cells the users with visits that day made before the load and adds those they make
  after it, from their visit rows only; ``record_retention`` reports the mart.

Table and column names come from ``clickpipe_core/marts.py`` and are checked identifiers; values
travel as query parameters or COPY data only.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from clickpipe_core.errors import WarehouseError
from clickpipe_core.marts import (
    MIGRATIONS_DIR,
    RETENTION_WEEKLY,
    SCHEMA,
    USER_ACTIVITY,
    USER_VISITS_DAILY,
    USERS_DIM,
    Mart,
    arrow_schema,
    identifier,
)

MIGRATION_FILE = re.compile(r"^V(?P<version>\d{3,})__(?P<name>[a-z0-9_]+)\.sql$")
MIGRATION_LOCK = 7_316_221  # pg_advisory_xact_lock key of clickpipe migrations
RETENTION_LOCK = 7_316_222  # pg_advisory_xact_lock key of weekly retention's updates
FULL_PARTITION = "*"
# How a local Job 2 process gets its PostgreSQL: the URL itself (a secret: set by the warehouse
# resource in that process's environment only) and which user-facing setting it came from.
URL_ENV = "CLICKPIPE_JOB_PG_URL"
SOURCE_ENV = "CLICKPIPE_JOB_PG_SOURCE"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path | Traversable

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(directory: Path | Traversable = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for p in sorted((p for p in directory.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        m = MIGRATION_FILE.match(p.name)
        if not m:
            raise WarehouseError(f"migration file {p.name} is not named V<number>__<name>.sql")
        found.append(Migration(int(m["version"]), m["name"], p))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise WarehouseError(f"two migrations share a version in {directory}")
    return sorted(found, key=lambda m: m.version)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def connect_psycopg(url: str, *, source: str = "the PostgreSQL URL", **kwargs):
    import psycopg

    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WarehouseError(f"cannot connect to PostgreSQL at {redact(url)} ({source}): {reason}") from None
    except psycopg.ProgrammingError as e:  # a malformed URL
        raise WarehouseError(f"invalid PostgreSQL URL {redact(url)} ({source}): {e}") from None


def connect_adbc(url: str, *, source: str = "the PostgreSQL URL"):
    import adbc_driver_postgresql.dbapi as adbc

    try:
        return adbc.connect(url)
    except Exception as e:  # adbc_driver_manager.OperationalError and friends
        reason = str(e).strip().splitlines()[0]
        raise WarehouseError(f"cannot connect to PostgreSQL at {redact(url)} ({source}): {reason}") from None


def apply_migrations(url: str, directory: Path | Traversable = MIGRATIONS_DIR, *, source: str = "the PostgreSQL URL") -> list[str]:
    """Apply pending migrations; returns the names of those applied now."""
    applied_now = []
    with connect_psycopg(url, source=source) as con:
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(SCHEMA)}")
            con.execute(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {v: (n, c) for v, n, c in con.execute(f"SELECT version, name, checksum FROM {SCHEMA}.schema_migrations")}
            for m in migrations(directory):
                if m.version in done:
                    if done[m.version][1] != m.checksum:
                        raise WarehouseError(
                            f"migration V{m.version:03d}__{m.name}.sql was edited after it was applied "
                            "(checksum differs): add a new migration instead"
                        )
                    continue
                with con.transaction():  # a savepoint: the file and its record commit together
                    con.execute(m.sql)
                    con.execute(
                        f"INSERT INTO {SCHEMA}.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(f"V{m.version:03d}__{m.name}")
    return applied_now


def conform(mart: Mart, table: pa.Table) -> pa.Table:
    """The table with the mart's columns, in order, cast to the exact Arrow types of the PostgreSQL
    columns (binary COPY needs them exact: int64 for bigint, decimal(18,2) for numeric(18,2)...)."""
    schema = arrow_schema(mart)
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise WarehouseError(f"mart {mart.name}: the SQL result lacks column(s) {missing}")
    columns = [table.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=pa.schema([pa.field(f.name, f.type) for f in schema]))


def _load_error(e: BaseException, what: str) -> WarehouseError:
    """A database error as one clear message (the transaction was rolled back), with PostgreSQL's
    own words and, when it gives one, where: ``COPY <mart>, line <row>, column <name>``. Anything
    else is not a load error and is raised as it is."""
    import adbc_driver_manager

    if isinstance(e, WarehouseError):  # a check of the load's own
        return WarehouseError(f"{what} failed and was rolled back (the previous rows stay): {e}")
    if not isinstance(e, adbc_driver_manager.Error):
        raise e
    details = dict(getattr(e, "details", None) or [])
    primary = details.get(b"PG_DIAG_MESSAGE_PRIMARY", b"").decode("utf-8", "replace")
    first = primary or (str(e).strip().splitlines() or [type(e).__name__])[0]
    where = details.get(b"PG_DIAG_CONTEXT", b"").decode("utf-8", "replace").strip()
    where = f" (at {where}: the rows of the mart in COPY order)" if where.startswith("COPY ") else ""
    return WarehouseError(f"{what} failed and was rolled back (the previous rows stay): {first}{where}")


def _ingest(cur, mart: Mart, table: pa.Table) -> None:
    if table.num_rows:
        cur.adbc_ingest(identifier(mart.name), table, mode="append", db_schema_name=identifier(SCHEMA))


def _record(cur, mart: Mart, partition: str, rows: int, run_id: str | None) -> None:
    cur.execute(
        f"""INSERT INTO {SCHEMA}.partition_loads (mart, partition, row_count, loaded_at, run_id)
            VALUES ($1, $2, $3, now(), $4)
            ON CONFLICT (mart, partition) DO UPDATE
            SET row_count = EXCLUDED.row_count, loaded_at = EXCLUDED.loaded_at, run_id = EXCLUDED.run_id""",
        parameters=(mart.name, partition, rows, run_id or ""),
    )


AFFECTED_USERS = "clickpipe_affected_users"  # a temporary table of the day's transaction

# Lifetime activity of the users in {users} (a relation with user_id), from their activity rows only:
# the same definition as sql/marts/users.sql over the whole history.
LIFETIME_SQL = f"""
SELECT a.user_id,
  CASE WHEN c.first_ts IS NULL THEN p.first_ts
       WHEN p.first_ts IS NULL OR c.first_ts <= p.first_ts THEN c.first_ts ELSE p.first_ts END AS first_seen,
  CASE WHEN c.last_ts IS NULL THEN p.last_ts
       WHEN p.last_ts IS NULL OR c.last_ts >= p.last_ts THEN c.last_ts ELSE p.last_ts END AS last_seen,
  COALESCE(c.events, 0) AS lifetime_events,
  COALESCE(s.sessions, 0) AS lifetime_sessions,
  COALESCE(p.orders, 0) AS lifetime_orders,
  CASE WHEN p.min_currency <> p.max_currency THEN NULL ELSE COALESCE(p.revenue, 0) END AS lifetime_revenue,
  CASE WHEN p.min_currency <> p.max_currency THEN 'MIXED' ELSE p.min_currency END AS revenue_currency
FROM (SELECT DISTINCT user_id FROM {{users}}) a
LEFT JOIN (
  SELECT user_id, min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(events)::bigint AS events
  FROM {SCHEMA}.user_clicks_daily WHERE user_id IN (SELECT user_id FROM {{users}}) GROUP BY user_id
) c ON c.user_id = a.user_id
LEFT JOIN (
  SELECT user_id, count(DISTINCT session_id) AS sessions
  FROM {SCHEMA}.user_sessions_daily WHERE user_id IN (SELECT user_id FROM {{users}}) GROUP BY user_id
) s ON s.user_id = a.user_id
LEFT JOIN (
  SELECT user_id, min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(orders)::bigint AS orders,
         sum(revenue) AS revenue, min(min_currency) AS min_currency, max(max_currency) AS max_currency
  FROM {SCHEMA}.user_payments_daily WHERE user_id IN (SELECT user_id FROM {{users}}) GROUP BY user_id
) p ON p.user_id = a.user_id
"""
LIFETIME_COLUMNS = ("first_seen", "last_seen", "lifetime_events", "lifetime_sessions", "lifetime_orders", "lifetime_revenue", "revenue_currency")


def _refresh_affected_users(cur) -> None:
    """Recompute marts.users for the users in the affected-users table (existing rows only: a user
    new to the dimension arrives with the next users load)."""
    sets = ", ".join(f"{c} = l.{c}" for c in LIFETIME_COLUMNS)
    lifetime = LIFETIME_SQL.format(users=AFFECTED_USERS)
    cur.execute(f"UPDATE {USERS_DIM.table} u SET {sets} FROM ({lifetime}) l WHERE u.user_id = l.user_id")


RETENTION_USERS = "clickpipe_retention_users"  # temporary tables of the day's transaction
VISITS_STAGE = "clickpipe_visits_stage"
RETENTION_DELTA = "clickpipe_retention_delta"


def _monday(date_sql: str) -> str:
    """The Monday of the ISO week of a date (NULL stays NULL)."""
    return f"({date_sql} - (EXTRACT(ISODOW FROM {date_sql})::integer - 1))"


# The retention cells the users of RETENTION_USERS that change cohort make, from all their visit rows:
# the definition of sql/marts/retention_weekly.sql (ISO weeks, cohort = the week of the first visit)
# over user_visits_daily.
RETENTION_CELLS_SQL = f"""
WITH weeks AS (
  SELECT user_id, {_monday("dt")} AS week, bool_or(purchased) AS purchased
  FROM {USER_VISITS_DAILY.table} WHERE user_id IN (SELECT user_id FROM {RETENTION_USERS} WHERE moved)
  GROUP BY 1, 2
), cohorts AS (
  SELECT user_id, min(week) AS cohort_week FROM weeks GROUP BY user_id
)
SELECT c.cohort_week, (w.week - c.cohort_week) / 7 AS weeks_since,
       count(*) AS users, count(*) FILTER (WHERE w.purchased) AS purchasers
FROM weeks w JOIN cohorts c ON c.user_id = w.user_id
GROUP BY 1, 2
"""
_DAY = "CAST($1 AS date)"
_FIRST_BEFORE = f"least(first_other, CASE WHEN was THEN {_DAY} END)"
_FIRST_AFTER = f"least(first_other, CASE WHEN now THEN {_DAY} END)"


def _replace_visits(cur, rows: pa.Table, day: str) -> None:
    """Replace ``day`` of marts.user_visits_daily and bring marts.retention_weekly along, looking only
    at the users with visits that day, before or after. For each, two index lookups on their other
    days: their first visit, and their visits in the day's week. A user whose cohort stays changes one
    cell at most (the day's week: active, bought); a user whose cohort changes (a first visit, one
    lost, or an earlier day loaded late) has all their cells taken away as they were and added as
    they are now, from all their visits. Then the touched cohorts get their size and shares again.
    Two loads take turns (an advisory lock held to the commit): each reads the other's visits
    (ARCHITECTURE.md, rule 9)."""
    table, mart = USER_VISITS_DAILY.table, RETENTION_WEEKLY.table
    week = _monday(_DAY)
    cur.execute(f"SELECT pg_advisory_xact_lock({RETENTION_LOCK})")
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {VISITS_STAGE} (LIKE {table}) ON COMMIT DELETE ROWS")
    cur.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS {RETENTION_USERS} (
              user_id text PRIMARY KEY, was boolean, was_bought boolean, now boolean, now_bought boolean,
              first_other date, week_other boolean, moved boolean) ON COMMIT DELETE ROWS"""
    )  # week_other: NULL without a visit on another day of the week, else whether one bought
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {RETENTION_DELTA} "
        "(cohort_week date, weeks_since integer, users bigint, purchasers bigint) ON COMMIT DELETE ROWS"
    )
    if rows.num_rows:
        cur.adbc_ingest(VISITS_STAGE, rows, mode="append", temporary=True)
    cur.execute(
        f"""INSERT INTO {RETENTION_USERS} (user_id, was, was_bought, now, now_bought)
            SELECT user_id, bool_or(old), bool_or(old AND purchased), bool_or(NOT old), bool_or(NOT old AND purchased)
            FROM (SELECT user_id, purchased, true AS old FROM {table} WHERE dt = {_DAY}
                  UNION ALL SELECT user_id, purchased, false FROM {VISITS_STAGE}) day_users
            GROUP BY user_id""",
        parameters=(day,),
    )
    cur.execute(
        f"""UPDATE {RETENTION_USERS} u SET
              first_other = (SELECT v.dt FROM {table} v WHERE v.user_id = u.user_id AND v.dt <> {_DAY} ORDER BY v.dt LIMIT 1),
              week_other = (SELECT bool_or(v.purchased) FROM {table} v
                            WHERE v.user_id = u.user_id AND v.dt BETWEEN {week} AND {week} + 6 AND v.dt <> {_DAY})""",
        parameters=(day,),
    )
    cur.execute(
        f"UPDATE {RETENTION_USERS} SET moved = {_monday(_FIRST_BEFORE)} IS DISTINCT FROM {_monday(_FIRST_AFTER)}",
        parameters=(day,),
    )
    # Nothing analyzes a temporary table: without it the planner guesses many users move and reads
    # every visit (a scan that grows with history) instead of looking up the few that do.
    cur.execute(f"ANALYZE {RETENTION_USERS}")
    delta = f"INSERT INTO {RETENTION_DELTA} SELECT cohort_week, weeks_since, {{sign}} users, {{sign}} purchasers FROM ({RETENTION_CELLS_SQL}) c"
    cur.execute(delta.format(sign="-"))
    cur.execute(
        f"""INSERT INTO {RETENTION_DELTA}
            SELECT cohort_week, ({week} - cohort_week) / 7, sum(users), sum(purchasers) FROM (
              SELECT {_monday(_FIRST_BEFORE)} AS cohort_week,
                     (week_other IS NOT NULL OR now)::integer - (week_other IS NOT NULL OR was)::integer AS users,
                     (coalesce(week_other, false) OR now_bought)::integer - (coalesce(week_other, false) OR was_bought)::integer AS purchasers
              FROM {RETENTION_USERS} WHERE NOT moved) kept
            GROUP BY cohort_week""",
        parameters=(day,),
    )
    cur.execute(f"DELETE FROM {table} WHERE dt = {_DAY}", parameters=(day,))
    cur.execute(f"INSERT INTO {table} SELECT * FROM {VISITS_STAGE}")
    cur.execute(delta.format(sign=""))
    touched = f"(SELECT DISTINCT cohort_week FROM {RETENTION_DELTA})"
    cur.execute(
        f"""INSERT INTO {mart} AS r (cohort_week, weeks_since, cohort_users, users, purchasers, user_retention, purchaser_share)
            SELECT cohort_week, weeks_since, 0, sum(users), sum(purchasers), 0, 0 FROM {RETENTION_DELTA}
            GROUP BY cohort_week, weeks_since HAVING sum(users) <> 0 OR sum(purchasers) <> 0
            ON CONFLICT (cohort_week, weeks_since)
            DO UPDATE SET users = r.users + EXCLUDED.users, purchasers = r.purchasers + EXCLUDED.purchasers"""
    )
    cur.execute(f"DELETE FROM {mart} WHERE users = 0 AND cohort_week IN {touched}")
    # a cohort's size is its users in its own week (every one of them has a visit then)
    cur.execute(
        f"""UPDATE {mart} r SET cohort_users = z.users,
                user_retention = r.users::double precision / z.users,
                purchaser_share = r.purchasers::double precision / z.users
            FROM {mart} z WHERE z.cohort_week = r.cohort_week AND z.weeks_since = 0 AND r.cohort_week IN {touched}"""
    )
    cur.execute(
        f"""SELECT min(cohort_week) FROM {mart} WHERE cohort_week IN {touched}
            AND (purchasers < 0 OR purchasers > users OR users > cohort_users OR cohort_users = 0)"""
    )
    if (broken := cur.fetchone()[0]) is not None:
        raise WarehouseError(
            f"{mart} does not add up with {table} (cohort {broken}): it was changed outside Job 2; "
            f"empty both (TRUNCATE) and delete their rows of {SCHEMA}.partition_loads, then run Job 2 --marts retention"
        )


def record_retention(url: str, *, run_id: str | None = None, source: str = "the PostgreSQL URL") -> dict[str, int]:
    """What marts.retention_weekly holds now (the day loads keep it), recorded as its load: rows,
    cohorts and the days of visits it covers."""
    with _transaction(url, source, f"recording {RETENTION_WEEKLY.table}") as cur:
        cur.execute(f"SELECT count(*), count(*) FILTER (WHERE weeks_since = 0) FROM {RETENTION_WEEKLY.table}")
        rows, cohorts = cur.fetchone()
        cur.execute(f"SELECT count(DISTINCT dt) FROM {USER_VISITS_DAILY.table}")
        days = cur.fetchone()[0]
        _record(cur, RETENTION_WEEKLY, FULL_PARTITION, rows, run_id)
    return {"rows_loaded": rows, "cohorts": cohorts, "days_with_visits": days}


def replace_partitions(
    url: str,
    tables: dict[str, tuple[Mart, pa.Table]],
    days: list[str],
    *,
    run_id: str | None = None,
    source: str = "the PostgreSQL URL",
    failures: dict[str, str] | None = None,
) -> dict[str, dict[str, int]]:
    """For each day: one transaction that replaces that day's rows in every mart given.

    ``tables`` maps a mart name to (mart, rows for any of the days). A day with no rows leaves the
    mart empty for that day (and is recorded as loaded with 0 rows). Returns mart -> day -> rows
    of the days loaded. Days are independent: with ``failures`` a day that fails is rolled back,
    recorded there (day -> message) and the next day is loaded; without it the first failure raises.
    """
    import datetime as _dt

    conformed = {name: (mart, conform(mart, t)) for name, (mart, t) in tables.items()}
    loaded: dict[str, dict[str, int]] = {name: {} for name in conformed}
    activity = any(mart in USER_ACTIVITY for mart, _ in conformed.values())
    con = connect_adbc(url, source=source)
    try:
        for day in days:
            day_value = _dt.date.fromisoformat(day)
            cur = con.cursor()
            try:
                if activity:
                    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {AFFECTED_USERS} (user_id text) ON COMMIT DELETE ROWS")
                for name, (mart, table) in conformed.items():
                    if not mart.daily:
                        raise WarehouseError(f"mart {mart.name} is not daily: use replace_table")
                    rows = table.filter(pc.equal(table.column("dt"), pa.scalar(day_value, pa.date32())))
                    remember = f"INSERT INTO {AFFECTED_USERS} SELECT user_id FROM {mart.table} WHERE dt = CAST($1 AS date)"
                    if mart is USER_VISITS_DAILY:  # and weekly retention with it
                        _replace_visits(cur, rows, day)
                    else:
                        if mart in USER_ACTIVITY:  # the users active that day before the load
                            cur.execute(remember, parameters=(day,))
                        cur.execute(f"DELETE FROM {mart.table} WHERE dt = CAST($1 AS date)", parameters=(day,))
                        _ingest(cur, mart, rows)
                        if mart in USER_ACTIVITY:  # and after it
                            cur.execute(remember, parameters=(day,))
                    _record(cur, mart, day, rows.num_rows, run_id)
                    loaded[name][day] = rows.num_rows
                if activity:
                    _refresh_affected_users(cur)
                con.commit()
            except BaseException as e:
                with contextlib.suppress(Exception):  # a lost connection cannot roll back: the server does
                    con.rollback()
                for name in conformed:
                    loaded[name].pop(day, None)
                error = _load_error(e, f"replacing {day} in {', '.join(m.table for m, _ in conformed.values())}")
                if failures is None:
                    raise error from e
                failures[day] = str(error)
            finally:
                with contextlib.suppress(Exception):
                    cur.close()
    finally:
        with contextlib.suppress(Exception):
            con.close()
    return loaded


@contextlib.contextmanager
def _transaction(url: str, source: str, what: str):
    """An ADBC cursor in one transaction: committed when the block ends, rolled back (and the error
    made one clear message, ``_load_error``) when it fails."""
    con = connect_adbc(url, source=source)
    try:
        cur = con.cursor()
        try:
            yield cur
            con.commit()
        except BaseException as e:
            with contextlib.suppress(Exception):
                con.rollback()
            raise _load_error(e, what) from e
        finally:
            with contextlib.suppress(Exception):
                cur.close()
    finally:
        with contextlib.suppress(Exception):
            con.close()


def replace_table(
    url: str, mart: Mart, table: pa.Table, *, run_id: str | None = None, source: str = "the PostgreSQL URL"
) -> int:
    """Replace every row of a mart in one transaction (readers wait for the commit, never see half)."""
    table = conform(mart, table)
    with _transaction(url, source, f"replacing {mart.table}") as cur:
        cur.execute(f"TRUNCATE {mart.table}")
        _ingest(cur, mart, table)
        _record(cur, mart, FULL_PARTITION, table.num_rows, run_id)
    return table.num_rows


def refresh_users(url: str, attributes: pa.Table, *, run_id: str | None = None, source: str = "the PostgreSQL URL") -> dict[str, int]:
    """Bring marts.users to the users snapshot in one transaction: ``attributes`` (user_id, country,
    plan, signup_date of every user of the snapshot) are upserted, users no longer in it removed, and
    lifetime activity computed for the users new to the dimension only (the others' is kept up to
    date by the daily loads). Returns the rows inserted, updated, removed and the dimension's size."""
    stage = "clickpipe_users_stage"
    names = ["user_id", "country", "plan", "signup_date"]
    schema = arrow_schema(USERS_DIM)
    attributes = pa.Table.from_arrays(
        [attributes.column(n).cast(schema.field(n).type) for n in names], schema=pa.schema([pa.field(n, schema.field(n).type) for n in names])
    )
    with _transaction(url, source, f"refreshing {USERS_DIM.table}") as cur:
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}")
        cur.adbc_ingest(stage, attributes, mode="create", temporary=True)

        def count(sql: str) -> int:
            cur.execute(f"WITH changed AS ({sql} RETURNING 1) SELECT count(*) FROM changed")
            return cur.fetchone()[0]

        removed = count(f"DELETE FROM {USERS_DIM.table} WHERE user_id NOT IN (SELECT user_id FROM {stage})")
        updated = count(
            f"""UPDATE {USERS_DIM.table} u SET country = s.country, plan = s.plan, signup_date = s.signup_date
                FROM {stage} s WHERE u.user_id = s.user_id
                AND (u.country, u.plan, u.signup_date) IS DISTINCT FROM (s.country, s.plan, s.signup_date)"""
        )
        new = f"(SELECT s.user_id FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {USERS_DIM.table} u WHERE u.user_id = s.user_id)) n"
        columns = ", ".join(USERS_DIM.column_names)
        inserted = count(
            f"""INSERT INTO {USERS_DIM.table} ({columns})
                SELECT s.user_id, s.country, s.plan, s.signup_date, {", ".join(f"l.{c}" for c in LIFETIME_COLUMNS)}
                FROM {stage} s JOIN ({LIFETIME_SQL.format(users=new)}) l ON l.user_id = s.user_id"""
        )
        cur.execute(f"SELECT count(*) FROM {USERS_DIM.table}")
        size = cur.fetchone()[0]
        _record(cur, USERS_DIM, FULL_PARTITION, size, run_id)
        cur.execute(f"DROP TABLE pg_temp.{stage}")
    return {"inserted": inserted, "updated": updated, "removed": removed, "rows": size}


def loaded_days(url: str, marts: list[Mart], *, source: str = "the PostgreSQL URL") -> dict[str, set[str]]:
    """The days recorded as loaded for each of ``marts`` (``marts.partition_loads``)."""
    with connect_psycopg(url, source=source) as con:
        rows = con.execute(
            f"SELECT mart, partition FROM {SCHEMA}.partition_loads WHERE mart = ANY(%s)", ([m.name for m in marts],)
        ).fetchall()
    found: dict[str, set[str]] = {m.name: set() for m in marts}
    for mart, partition in rows:
        found[mart].add(partition)
    return found
