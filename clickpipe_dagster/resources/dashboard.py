"""Dashboards over the marts: the service behind the ``dashboards`` resource key.

- ``LocalDashboardResource`` (local): the marts' columns checked against the live tables, and a
  self-contained HTML page rendered from PostgreSQL into ``$CLICKPIPE_HOME/dashboard/index.html``.
- ``QuickSightResource`` (aws, ``resources/quicksight.py``): a QuickSight data source on RDS, one
  data set per mart with a SPICE refresh, and the dashboard defined in ``dashboard/definition.py``.

Both answer the same three calls, so the assets in ``assets/dashboards.py`` never branch on the
environment.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from clickpipe_dagster.dashboard import page
from clickpipe_dagster.dashboard.datasets import DashboardDataset
from clickpipe_dagster.dashboard.page import DashboardError

__all__ = ["DashboardError", "DashboardsResource", "LocalDashboardResource", "Published", "Refresh"]


@dataclass
class Refresh:
    """How a dataset's data was refreshed after a load (a SPICE ingestion on QuickSight)."""

    # COMPLETED | FAILED | CANCELLED | ROWS_DROPPED (completed, but QuickSight skipped rows) | TIMED_OUT
    # (still running at the deadline) | NOT_NEEDED (DIRECT_QUERY, or the local page's live tables)
    status: str
    description: str
    metadata: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status in ("COMPLETED", "NOT_NEEDED")

    @property
    def severity(self) -> dg.AssetCheckSeverity:
        # Still running at the deadline: it may well finish; a failed one left stale data.
        return dg.AssetCheckSeverity.WARN if self.status == "TIMED_OUT" else dg.AssetCheckSeverity.ERROR


@dataclass
class Published:
    action: str  # created | updated | unchanged | checked | rendered
    metadata: dict = field(default_factory=dict)
    refresh: Refresh | None = None


class DashboardsResource(dg.ConfigurableResource, ABC):
    """Publishes the data source, the datasets and the dashboard; idempotent."""

    @abstractmethod
    def publish_data_source(self, warehouse) -> Published:
        """The connection the datasets read the marts through."""

    @abstractmethod
    def publish_data_sets(self, datasets: list[DashboardDataset], warehouse) -> dict[str, Published]:
        """One dataset per mart (by dataset name), each with its refresh outcome."""

    @abstractmethod
    def publish_dashboard(self, warehouse) -> Published:
        """The dashboard itself; metadata says where to open it."""


class LocalDashboardResource(DashboardsResource):
    """The local stand-in: the page under ``out_dir``, rendered from the marts in PostgreSQL."""

    out_dir: str
    default_currency: str = "USD"

    @property
    def page_path(self) -> Path:
        return Path(self.out_dir) / page.PAGE_NAME

    def publish_data_source(self, warehouse) -> Published:
        from clickpipe_core.errors import WarehouseError

        try:
            warehouse.check_connection()
        except WarehouseError as e:
            raise DashboardError(str(e)) from None
        return Published("checked", {"postgres": warehouse.display_url(), "reads": "the marts directly, at render time"})

    def publish_data_sets(self, datasets, warehouse) -> dict[str, Published]:
        """Check each mart table has exactly the dataset's columns and types (what QuickSight would be
        told), and count its rows. No copy is taken: the page reads the live tables."""
        from clickpipe_core.errors import WarehouseError

        out = {}
        for ds in datasets:
            try:
                actual = warehouse.query(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    [f"{ds.schema}.{ds.table}"],
                ).rows
                rows = warehouse.query(f"SELECT count(*) FROM {ds.schema}.{ds.table}").scalar() if actual else None
            except WarehouseError as e:
                raise DashboardError(f"dataset {ds.name}: {e}") from None
            if not actual:
                raise DashboardError(
                    f"dataset {ds.name}: table {ds.schema}.{ds.table} does not exist; materialize {ds.upstream_asset.to_user_string()} first"
                )
            want = [(n, _pg_type_name(t)) for n, t in ds.pg_columns]
            if [tuple(r) for r in actual] != want:
                raise DashboardError(
                    f"dataset {ds.name}: {ds.schema}.{ds.table} has columns {actual}, the dataset expects {want}"
                )
            out[ds.name] = Published(
                "checked",
                {"table": f"{ds.schema}.{ds.table}", "columns": len(want), "dagster/row_count": rows},
                Refresh("NOT_NEEDED", "local: the page reads the live tables when it is rendered (no SPICE copy)"),
            )
        return out

    def publish_dashboard(self, warehouse) -> Published:
        path, data = page.render(warehouse, self.out_dir, default_currency=self.default_currency)
        return Published(
            "rendered",
            {
                "path": dg.MetadataValue.path(str(path)),
                "url": dg.MetadataValue.url(path.as_uri()),
                "bytes": path.stat().st_size,
                "days": len(data["days"]),
                "first_day": data["days"][0] if data["days"] else None,
                "last_day": data["days"][-1] if data["days"] else None,
                "rows_embedded": {name: len(m["rows"]) for name, m in data["marts"].items()},
                "serve": "clickpipe dashboard",
            },
        )


_PG_TYPE_NAMES = {"timestamptz": "timestamp with time zone"}


def _pg_type_name(t: str) -> str:
    """The contract's PostgreSQL type as format_type() spells it."""
    return _PG_TYPE_NAMES.get(t, t)
