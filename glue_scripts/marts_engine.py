"""Glue Job 2's engines: the processed zone as the Athena tables, then the mart SQL over it.

The processed tables are registered as views with the same names, columns and types as the Athena
tables (``clickpipe_core/catalog.py``), restricted to the days a run needs, so the mart SQL
files run unchanged on DuckDB, on Spark and on Athena. Both engines return each mart as an Arrow
table with the mart's exact columns and types (``pg_load.conform``), ready for the same loader.

* ``DuckDBMartEngine``: one in-process DuckDB over local files (an S3 lake is copied down first).
* ``SparkMartEngine``: Spark SQL (Glue 5.0's Spark 3.5, or a local SparkSession). On Glue the
  executors read the S3 lake directly; the result of each mart is collected to the driver as Arrow
  (marts are small: a few hundred rows a day) and loaded by the same ADBC COPY as DuckDB's.

Why collect and COPY rather than Spark's JDBC writer: Job 2 replaces each day in one PostgreSQL
transaction across all four daily marts (readers never see half a day), which the JDBC writer's
per-task commits cannot do; the migrations and the load record stay with the one loader; and
there is nothing to parallelize in a load of a few hundred rows a day (the users dimension, one
row per user, is the largest).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from clickpipe_core import catalog, layout, processed_probe
from clickpipe_core.checks import arrow_schema as contract_schema
from clickpipe_core.errors import MartBuildError, ProcessedZoneError
from clickpipe_core.contracts import Dataset, get_dataset
from clickpipe_core.dialect import DUCKDB
from clickpipe_core.lake_store import LocalStore, S3Store
from clickpipe_core.marts import Mart
from clickpipe_core.runtime import Runtime


def _reason(error: BaseException) -> str:
    """The line of an engine's error that says what is wrong: the innermost Java cause for Spark
    (its message is a stack trace), else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    text = causes[-1] if causes else (lines[0] if lines else type(error).__name__)
    return text[:500]


class MartEngine:
    """What both engines share: which files a view reads, local copies of S3 objects, and cleanup.

    Subclasses implement ``_create_view(ds, keys)`` and ``_run(sql) -> pa.Table``.
    """

    def __init__(self, store: LocalStore | S3Store):
        self.store = store
        self._staging: Path | None = None
        self._registered: dict[str, list[str]] = {}  # dataset -> the files its view reads now
        self._days: list[str] | None = None
        self._read: dict[str, set[str]] = {}  # dataset -> every file read so far
        self._sessions: DuckDBMartEngine | None = None
        self.sessions_published: dict[str, int] = {}  # day -> sessions published to processed/sessions/

    @property
    def files_read(self) -> dict[str, int]:
        read = {name: set(keys) for name, keys in self._read.items()}
        if self._sessions is not None and self._sessions is not self:
            for name, keys in self._sessions._read.items():
                read.setdefault(name, set()).update(keys)
        return {name: len(keys) for name, keys in read.items()}

    def close(self) -> None:
        if self._sessions is not None and self._sessions is not self:
            self._sessions.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def files(self, dataset: str, days: list[str] | None) -> list[str]:
        """The processed files of ``dataset`` for ``days`` (every day when None; a snapshot whole)."""
        ds = get_dataset(dataset)
        if not ds.partition_time_column:
            key = layout.snapshot_key(dataset)
            return [key] if self.store.exists(key) else []
        prefixes = [f"{layout.processed_prefix(dataset)}dt={d}/" for d in days] if days else [layout.processed_prefix(dataset)]
        keys = []
        for prefix in prefixes:
            keys += [o.key for o in self.store.list(prefix) if o.key.endswith(".parquet") and layout.parse_dt(o.key)]
        return sorted(keys)

    def _staging_root(self) -> Path:
        """Where S3 objects are copied with their keys (so ``dt=…`` directories stay in the path)."""
        if self.store.is_local:
            return self.store.path("")
        if self._staging is None:
            self._staging = self.store.staging_dir()
        return self._staging

    def _local_path(self, key: str) -> str:
        if self.store.is_local:
            return str(self.store.path(key))
        target = self._staging_root() / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.store.local_copy(key) as p:
            shutil.copyfile(p, target)
        return str(target)

    def register(self, datasets: list[str], days: list[str] | None = None) -> None:
        """Create the views ``users``, ``transactions``, ``clicks`` (those asked for), over the given
        days only (all days when ``days`` is None; snapshots are always whole)."""
        self._days = days
        for name in datasets:
            keys = self.files(name, days)
            self._registered[name] = keys
            try:
                self._create_view(get_dataset(name), keys)
            except self._engine_errors() as e:
                raise ProcessedZoneError(self._unusable_file(name) or self._unreadable(name, e)) from None
            self._read.setdefault(name, set()).update(keys)

    def build(self, mart: Mart) -> pa.Table:
        """The mart's rows, with exactly the mart's columns and Arrow types."""
        from clickpipe_core.pg_load import conform

        try:
            table = self._run(mart.sql())
        except self._engine_errors() as e:
            # Blame a file only when one is unusable: an error of the SQL itself (say, an overflow)
            # is not the processed zone's fault.
            for name in mart.sources:
                if problem := self._unusable_file(name):
                    raise ProcessedZoneError(problem) from None
            days = "every day" if self._days is None else ", ".join(self._days)
            raise MartBuildError(
                f"mart {mart.name} cannot be computed for {days} from processed {', '.join(mart.sources)} "
                f"(every file it reads is sound): {_reason(e)}"
            ) from None
        return conform(mart, table)

    def query(self, sql: str) -> pa.Table:
        """The rows of ``sql`` over the registered tables (small results)."""
        return self._run(sql)

    def build_days(
        self, marts: list[Mart], sources: list[str], days: list[str], *, publish_sessions: bool = False
    ) -> tuple[dict[str, list[pa.Table]], dict[str, str]]:
        """Daily marts for ``days``: (mart -> tables, day -> why it could not be built). All days are
        built at once; when that fails, one day at a time, so that one bad day costs only itself.
        Sessionized marts are built on DuckDB whatever this engine is (``session_engine``); with
        ``publish_sessions`` the sessions of the days built are also published to the processed zone
        (``DuckDBMartEngine.publish_sessions``: rows per day in ``sessions_published``)."""
        from clickpipe_core.errors import ClickpipeError

        try:
            built = {}
            plain = [m for m in marts if not m.sessionized]
            if plain:
                self.register(sources, days=days)
                built.update({m.name: [self.build(m)] for m in plain})
            if len(plain) < len(marts) or publish_sessions:
                sessions = self.session_engine()
                sessions.derive_sessions(days)
                built.update({m.name: [sessions.build(m)] for m in marts if m.sessionized})
                if publish_sessions:
                    self.sessions_published.update(sessions.publish_sessions(days))
            return {m.name: built[m.name] for m in marts}, {}
        except ClickpipeError as e:
            if len(days) == 1:
                return {m.name: [] for m in marts}, {days[0]: str(e)}
        tables: dict[str, list[pa.Table]] = {m.name: [] for m in marts}
        failures: dict[str, str] = {}
        for day in days:
            built, failed = self.build_days(marts, sources, [day], publish_sessions=publish_sessions)
            failures.update(failed)
            for name, parts in built.items():
                tables[name] += parts
        return tables, failures

    def session_engine(self) -> "DuckDBMartEngine":
        """The engine of the sessionized marts: DuckDB (this engine when it is DuckDB), over the same lake."""
        if self._sessions is None:
            self._sessions = DuckDBMartEngine(self.store)
        return self._sessions

    def _unusable_file(self, name: str) -> str | None:
        """The first registered file of ``name`` that cannot be used, and why (read one by one)."""
        ds = get_dataset(name)
        return processed_probe.unreadable(self.store, ds, self._registered.get(name, []), contract_schema(ds))

    def _unreadable(self, name: str, error: BaseException) -> str:
        keys = self._registered.get(name, [])
        return (
            f"cannot read processed/{name}/ ({len(keys)} files): {_reason(error)}; "
            f"re-materialize processed/{name} for the day of that file"
        )

    def _engine_errors(self) -> tuple[type[BaseException], ...]:
        """What the engine raises when a file cannot be read or the SQL fails on what it read."""
        raise NotImplementedError

    def _create_view(self, ds: Dataset, keys: list[str]) -> None:
        raise NotImplementedError

    def _run(self, sql: str) -> pa.Table:
        raise NotImplementedError


class DuckDBMartEngine(MartEngine):
    def __init__(self, store: LocalStore | S3Store, *, threads: int | None = None, runtime: Runtime | None = None):
        import duckdb

        super().__init__(store)
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        self.con.close()
        super().close()

    def session_engine(self) -> "DuckDBMartEngine":
        return self

    def derive_sessions(self, days: list[str] | None) -> None:
        """The derived tables ``sessions`` (those starting on ``days``; every one when None) and
        ``session_events`` (their events), from the clicks of the days around them
        (``clickpipe_core/sessions.py``), with Job 1's enrichment columns (``_enriched_clicks``)."""
        from clickpipe_core import sessions as rules

        ds = get_dataset("clicks")
        keys = self.files("clicks", rules.window_days(days) if days is not None else None)
        self._registered["clicks"] = keys
        con = self.con
        try:
            con.execute(f"CREATE OR REPLACE VIEW processed_clicks AS {catalog.duckdb_select(ds, [self._local_path(k) for k in keys])}")
            con.execute(f"CREATE OR REPLACE VIEW session_clicks AS {self._enriched_clicks(ds)}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE session_events AS {rules.session_events_sql()}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE sessions AS {rules.sessions_sql(days)}")
            # then only the events of those sessions (the marts that read events need no day filter)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE session_events_kept AS SELECT e.* FROM session_events e "
                "SEMI JOIN sessions s ON s.session_id = e.session_key AND s.user_id = e.user_id"
            )
            con.execute("DROP TABLE session_events")
            con.execute("ALTER TABLE session_events_kept RENAME TO session_events")
        except self._engine_errors() as e:
            if problem := self._unusable_file("clicks"):
                raise ProcessedZoneError(problem) from None
            which = "every day" if days is None else ", ".join(days)
            raise MartBuildError(f"sessions cannot be derived for {which} from processed clicks: {_reason(e)}") from None
        self._days = days
        self._read.setdefault("clicks", set()).update(keys)

    def publish_sessions(self, days: list[str]) -> dict[str, int]:
        """Write the derived ``sessions`` of each of ``days`` as ``processed/sessions/dt=D/sessions.parquet``
        (``catalog.SESSIONS_TABLE``'s columns and types, in key order; a day without sessions gets a
        file with none), each staged then replaced whole (ARCHITECTURE.md, rule 3); returns the rows
        per day. Called after ``derive_sessions(days)``."""
        table = catalog.SESSIONS_TABLE
        staging = self.store.staging_dir()
        columns = ", ".join(f"CAST({n} AS {catalog.LOGICAL_TYPES[t].duckdb}) AS {n}" for n, t in table.processed_columns)
        published = {}
        try:
            for day in days:
                target = staging / f"sessions-{day}.parquet"
                # COPY answers with the number of rows it wrote
                published[day] = self.con.execute(
                    f"COPY (SELECT {columns} FROM sessions WHERE dt = CAST(? AS DATE) ORDER BY user_id, session_id) "
                    f"TO {DUCKDB.literal(str(target))} (FORMAT parquet, COMPRESSION snappy)",
                    [day],
                ).fetchone()[0]
                self.store.put_file(target, layout.sessions_key(day), move=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return published

    def _enriched_clicks(self, ds: Dataset) -> str:
        """The view ``processed_clicks`` with Job 1's enrichment columns on every row: a file written
        before Job 1 enriched has them NULL, and those rows are enriched here by the same rules
        (``enrichment.lookups``, ``enrichment.enrich_sql``), so old days need no re-run."""
        from clickpipe_core import enrichment

        old = f"(SELECT * FROM processed_clicks WHERE {enrichment.ENRICHMENT_NULL_MARKER} IS NULL)"
        if not self.con.execute(f"SELECT count(*) FROM {old} r").fetchone()[0]:
            return "SELECT * FROM processed_clicks"
        agents, acquisitions = enrichment.lookups(lambda sql: self.con.execute(sql).fetchall(), f"{old} r")
        self.con.register("old_click_agents", agents)
        self.con.register("old_click_acquisitions", acquisitions)
        columns = [n for n, _ in catalog.duckdb_columns(ds) if n not in ds.derived_column_names]
        return (
            f"SELECT * FROM processed_clicks WHERE {enrichment.ENRICHMENT_NULL_MARKER} IS NOT NULL UNION ALL BY NAME "
            + enrichment.enrich_sql(old, "old_click_agents", "old_click_acquisitions", columns)
        )

    def _create_view(self, ds: Dataset, keys: list[str]) -> None:
        self.con.execute(catalog.duckdb_view_sql(ds, [self._local_path(k) for k in keys]))

    def _run(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def _engine_errors(self):
        import duckdb

        return (duckdb.Error,)


class SparkMartEngine(MartEngine):
    """The marts on Spark SQL. The views are temporary views of the session, named like the tables."""

    def __init__(self, store: LocalStore | S3Store, *, spark=None, threads: int | None = None, runtime: Runtime | None = None):
        from glue_scripts.spark_session import spark_session

        super().__init__(store)
        runtime = runtime or Runtime.local("spark")
        self.spark = spark or spark_session(runtime, threads)
        # On Glue, executors read an S3 lake themselves; a local Spark has no S3 connector.
        self.remote = not store.is_local and runtime.on_glue

    def _base(self, ds: Dataset) -> str:
        prefix = layout.processed_prefix(ds.name)
        if self.remote:
            return self.store.url(prefix)
        return str(self._staging_root() / prefix)

    def _create_view(self, ds: Dataset, keys: list[str]) -> None:
        columns = catalog.file_columns(ds) + catalog.partition_keys(ds)  # Athena's types are Spark SQL's
        if not keys:
            self.spark.sql(catalog.empty_select(columns)).createOrReplaceTempView(catalog.table_name(ds))
            return
        paths = [self.store.url(k) if self.remote else self._local_path(k) for k in keys]
        reader = self.spark.read
        if ds.partition_columns:  # dt=… / event_type=… come from the directories, as text
            reader = reader.option("basePath", self._base(ds))
        if ds.derived_columns:  # files written before a derived column existed lack it: merge the schemas
            reader = reader.option("mergeSchema", "true")
        df = reader.parquet(*paths)
        present = set(df.columns)
        df.selectExpr(*(f"CAST({n if n in present else 'NULL'} AS {t}) AS {n}" for n, t in columns)).createOrReplaceTempView(
            catalog.table_name(ds)
        )

    def _run(self, sql: str) -> pa.Table:
        from pyspark.sql.pandas.types import to_arrow_schema

        df = self.spark.sql(sql)
        schema = to_arrow_schema(df.schema)
        batches = df._collect_as_arrow()  # Spark 3.5's Arrow collect (DataFrame.toArrow is Spark 4)
        return pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()

    def _engine_errors(self):
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        return (PySparkException, Py4JJavaError)


ENGINES = {"duckdb": DuckDBMartEngine, "spark": SparkMartEngine}
