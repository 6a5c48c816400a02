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
    columns += [
        dg.TableColumn(
            c.name,
            c.logical_type.athena,
            description=f"Derived by Job 1: {c.description}" if c.description else "Derived by Job 1",
            constraints=dg.TableColumnConstraints(nullable=True),  # NULL in files written before Job 1 derived it
        )
        for c in ds.derived_columns
    ]
    return dg.TableSchema(columns=columns)
