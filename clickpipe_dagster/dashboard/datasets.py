"""One dashboard dataset per mart table in PostgreSQL (RDS): a QuickSight data set on AWS, the same
column list checked against the live table locally.

Columns and types come from the mart contract (``clickpipe_core/marts.py``), so a migration that
changes a mart changes its dataset too; ``tests/test_quicksight.py`` checks that they agree with the
DDL in PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from clickpipe_dagster.assets import keys
from clickpipe_core.marts import MART_TYPES, MARTS, SCHEMA, Mart

# Mart logical type -> QuickSight InputColumn type.
QUICKSIGHT_TYPES = {
    "string": "STRING",
    "date": "DATETIME",
    "timestamp": "DATETIME",
    "count": "INTEGER",
    "rank": "INTEGER",
    "money": "DECIMAL",
    "money_total": "DECIMAL",
    "rate": "DECIMAL",
    "flag": "BOOLEAN",
}
assert set(QUICKSIGHT_TYPES) == set(MART_TYPES), "every mart type needs a QuickSight type"


@dataclass(frozen=True)
class DashboardDataset:
    mart: Mart

    @property
    def name(self) -> str:
        """Identifier inside the dashboard definition (DataSetIdentifier)."""
        return self.mart.name

    @property
    def table_id(self) -> str:
        """Key of the data set's PhysicalTableMap (and of any LogicalTableMap): QuickSight accepts
        only ``[0-9a-zA-Z-]*`` there, so no underscores."""
        return self.mart.name.replace("_", "-")

    @property
    def asset(self) -> dg.AssetKey:
        return keys.dashboard(f"dataset_{self.mart.name}")

    @property
    def upstream_asset(self) -> dg.AssetKey:
        return keys.mart(self.mart)

    @property
    def schema(self) -> str:
        return SCHEMA

    @property
    def table(self) -> str:
        return self.mart.name

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(name, QuickSight type) in table order."""
        return [(c.name, QUICKSIGHT_TYPES[c.type]) for c in self.mart.columns]

    @property
    def pg_columns(self) -> list[tuple[str, str]]:
        """(name, PostgreSQL type) as the migrations create them."""
        return [(c.name, c.pg_type) for c in self.mart.columns]

    def data_set_id(self, prefix: str) -> str:
        return f"{prefix}-{self.mart.name.replace('_', '-')}"

    def physical_table(self, data_source_arn: str) -> dict:
        return {
            "RelationalTable": {
                "DataSourceArn": data_source_arn,
                "Schema": self.schema,
                "Name": self.table,
                "InputColumns": [{"Name": n, "Type": t} for n, t in self.columns],
            }
        }


DATASETS: tuple[DashboardDataset, ...] = tuple(DashboardDataset(m) for m in MARTS.values())
DATASETS_BY_NAME = {d.name: d for d in DATASETS}
