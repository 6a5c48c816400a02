"""The SparkSession both Glue jobs run on: Glue's on a Glue worker, a local one elsewhere.

No state of our own: Spark keeps one session per process (``getOrCreate``), and on Glue the
GlueContext wraps that same session.
"""

from __future__ import annotations

import contextlib
import os
import sys

from clickpipe_core.runtime import Runtime

# Session settings the jobs rely on, on Glue and locally alike.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: timestamp[us, UTC]
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # dt=… stays text, like Athena's
}


def _glue_context():
    from awsglue.context import GlueContext
    from pyspark.context import SparkContext

    return GlueContext(SparkContext.getOrCreate())


def spark_session(runtime: Runtime, threads: int | None = None):
    """Glue's session (through a GlueContext) on Glue, else the process's local session, started
    on first use with ``threads`` cores (default: all)."""
    if runtime.on_glue:
        spark = _glue_context().spark_session
    else:
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        if spark is None:
            cores = threads or os.cpu_count() or 2
            # Python workers (the JSON checks) must run this interpreter, with this environment's packages.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = (
                SparkSession.builder.master(f"local[{cores}]")
                .appName("clickpipe")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
                .config("spark.driver.memory", os.environ.get("CLICKPIPE_SPARK_DRIVER_MEMORY", "4g"))
                .config("spark.sql.adaptive.enabled", "true")
                .config("spark.ui.showConsoleProgress", "false")
                # uncompressed in-memory cache: a third less time for cached relations, more memory
                .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
            )
            # More settings for a local run, e.g. CLICKPIPE_SPARK_CONF="spark.eventLog.enabled=true spark.eventLog.dir=/tmp/ev"
            for item in os.environ.get("CLICKPIPE_SPARK_CONF", "").split():
                k, _, v = item.partition("=")
                builder = builder.config(k, v)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
    for k, v in SESSION_CONF.items():
        spark.conf.set(k, v)
    return spark


@contextlib.contextmanager
def glue_job(runtime: Runtime, default_name: str):
    """``Job.init``/``Job.commit`` around a run on Glue (bookmarks need both).

    Both jobs read exactly the partitions Dagster asks for, so a re-run replaces its own output
    (ARCHITECTURE.md, rule 2); bookmark state is therefore kept but never used to skip input.
    """
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions

    argv = list(runtime.argv)
    # getResolvedOptions expects sys.argv's shape (the script first)
    args = getResolvedOptions(["job", *argv], ["JOB_NAME"]) if "--JOB_NAME" in argv else {"JOB_NAME": default_name}
    job = Job(_glue_context())
    job.init(args["JOB_NAME"], args)
    yield job
    job.commit()
