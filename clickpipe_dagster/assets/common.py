"""Things every asset module shares: owners, and the contract as a Dagster table schema."""

import dagster as dg

from clickpipe_core.contracts import LOGICAL_TYPES, Dataset

OWNERS = ["team:data-platform"]


def table_schema(ds: Dataset) -> dg.TableSchema:
    columns = [
        dg.TableColumn(
            c.name,
            LOGICAL_TYPES[c.type][2],
            description=c.description or None,
            constraints=dg.TableColumnConstraints(nullable=not c.required, unique=c.name == ds.key),
        )
        for c in ds.columns
    ]
    columns.append(dg.TableColumn("ingest_date", "date", description="The raw partition this row came from"))
    return dg.TableSchema(columns=columns)
