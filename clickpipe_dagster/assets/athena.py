"""Athena tables over the processed zone (Glue Data Catalog on AWS, DuckDB views locally)."""

import dagster as dg

from clickpipe_core import catalog
from clickpipe_dagster import automation
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS, table_schema
from clickpipe_dagster.resources.athena import CatalogResource, QueryError
from clickpipe_dagster.resources.lake import LakeResource


def _schema(ds) -> dg.TableSchema:
    if isinstance(ds, catalog.DerivedTable):
        cols = [dg.TableColumn(c.name, c.pg_type, description=c.description or None) for c in ds.mart.columns if c.name != "dt"]
        return dg.TableSchema(columns=cols + [dg.TableColumn("dt", "string", description="Partition key (directory level), projected")])
    base = table_schema(ds)
    cols = [c for c in base.columns if c.name not in ds.partition_columns]
    cols += [dg.TableColumn(c, "string", description="Partition key (directory level), projected") for c in ds.partition_columns]
    return dg.TableSchema(columns=cols)


def _spec(ds) -> dg.AssetSpec:
    name = catalog.table_name(ds)
    layout = "/".join(f"{c}=…" for c in ds.partition_columns) or "one snapshot file"
    return dg.AssetSpec(
        key=keys.athena(name),
        deps=[keys.processed(ds.name)],
        group_name="athena",
        kinds={"athena", "glue", "duckdb"},
        owners=OWNERS,
        skippable=True,
        automation_condition=automation.after_upstream_loads(),
        description=(
            f"The {ds.name} of the processed zone as a table anyone can query with SQL. "
            f"Table `{catalog.GLUE_DATABASE}.{name}` over `processed/{ds.name}/` ({layout}). On AWS a Glue Data "
            f"Catalog table with partition projection (no crawler: a new day is queryable at once), created by the "
            f"CloudFormation stack and verified here; locally a DuckDB view of the same name in "
            f"`$CLICKPIPE_HOME/athena.duckdb`, replaced here. Both come from `clickpipe_core/catalog.py`. "
            f"{ds.description}"
        ),
        metadata={"dagster/column_schema": _schema(ds), "dagster/table_name": f"{catalog.GLUE_DATABASE}.{name}"},
    )


@dg.multi_asset(
    name="athena_tables",
    specs=[_spec(ds) for ds in catalog.processed_tables()],
    can_subset=True,
    description="The processed zone's tables: verified against the catalog on AWS (the stack owns them), replaced locally.",
)
def athena_tables(context: dg.AssetExecutionContext, lake: LakeResource, catalog_tables: CatalogResource):
    datasets = [ds for ds in catalog.processed_tables() if keys.athena(catalog.table_name(ds)) in context.selected_asset_keys]
    try:
        done = catalog_tables.ensure_tables(lake.job_uri, datasets)
    except QueryError as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    for ds in datasets:
        md = dict(done[catalog.table_name(ds)])
        if "rows" in md:
            md["dagster/row_count"] = md.pop("rows")
        yield dg.MaterializeResult(asset_key=keys.athena(catalog.table_name(ds)), metadata=md)


athena_assets = [athena_tables]
