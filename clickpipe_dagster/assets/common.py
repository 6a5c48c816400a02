"""Things every asset module shares: owners, and the contract as a Dagster table schema."""

import dagster as dg

from clickpipe_core.contracts import Dataset

OWNERS = ["team:data-platform"]


def table_schema(ds: Dataset) -> dg.TableSchema:
    columns = [
        dg.TableColumn(
            c.name,
            c.logical_type.athena,
            description=c.description or None,
            constraints=dg.TableColumnConstraints(nullable=not c.required, unique=c.name == ds.key),
        )
        for c in ds.columns
    ]
    columns.append(dg.TableColumn("ingest_date", "date", description="The raw partition this row came from"))
    return dg.TableSchema(columns=columns)
