"""QuickSight on boto3: the data source on RDS, one data set per mart, the dashboard, SPICE refreshes.

Every object is created or updated idempotently: describe it; create it if it does not exist;
update it only if what we want differs from what is there; then make sure the configured principal
(``CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN``) holds the owner actions (read the permissions, grant only
the missing ones). A rerun with nothing changed makes no write call except the SPICE refresh.

- Data source: ``POSTGRESQL`` on the RDS endpoint (``CLICKPIPE_RDS_HOST``), credentials from the RDS
  secret (``CLICKPIPE_RDS_SECRET_ARN``, QuickSight reads it with its own service role), through the
  QuickSight VPC connection (``CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN``), SSL on.
- Data sets: one per mart table, ``SPICE`` by default (``CLICKPIPE_QUICKSIGHT_IMPORT_MODE=DIRECT_QUERY``
  to query RDS live). A create or update of a SPICE data set starts an ingestion itself; an unchanged
  one gets ``create_ingestion``. Ingestions are polled together, bounded by ``ingestion_timeout_seconds``.
- Dashboard: the ``Definition`` from ``dashboard/definition.py``. Its digest is the version
  description, so an unchanged definition is not republished; a changed one becomes a new version,
  which is then published (``update_dashboard`` alone does not publish).

The AWS account comes from ``CLICKPIPE_AWS_ACCOUNT_ID`` or STS. All boto3 clients are built here.
"""

from __future__ import annotations

import math
import time
import uuid

import dagster as dg
from pydantic import PrivateAttr

from clickpipe_dagster.dashboard import definition as dash
from clickpipe_dagster.dashboard.datasets import DATASETS_BY_NAME, DashboardDataset
from clickpipe_dagster.resources.dashboard import DashboardError, DashboardsResource, Published, Refresh

# The owner ("co-owner") action sets of QuickSight's documentation.
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
)
DATA_SET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
)
DASHBOARD_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
)
IMPORT_MODES = ("SPICE", "DIRECT_QUERY")
INGESTION_DONE = {"COMPLETED", "FAILED", "CANCELLED"}
PUBLISH_OPTIONS = {
    "AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"},
    "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
    "SheetControlsOption": {"VisibilityState": "EXPANDED"},
}


class QuickSightResource(DashboardsResource):
    """QuickSight objects for the marts (see the module docstring for the settings)."""

    region_name: str | None = None
    endpoint_url: str | None = None  # an AWS API emulator; AWS_ENDPOINT_URL works too
    aws_account_id: str | None = None  # CLICKPIPE_AWS_ACCOUNT_ID; else STS
    principal_arn: str | None = None  # CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN: a QuickSight user or group
    vpc_connection_arn: str | None = None  # CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN
    rds_secret_arn: str | None = None  # CLICKPIPE_RDS_SECRET_ARN
    rds_host: str | None = None  # CLICKPIPE_RDS_HOST
    rds_port: int = 5432
    rds_database: str = "clickpipe"
    import_mode: str = "SPICE"  # CLICKPIPE_QUICKSIGHT_IMPORT_MODE
    id_prefix: str = "clickpipe"
    dashboard_name: str = "clickpipe"
    default_currency: str = "USD"
    ingestion_timeout_seconds: float = 600.0
    creation_timeout_seconds: float = 300.0
    poll_interval_seconds: float = 5.0
    _clients: dict = PrivateAttr(default_factory=dict)
    _account: str | None = PrivateAttr(default=None)

    # -- plumbing -----------------------------------------------------------------------------------------

    def client(self, service: str = "quicksight"):
        """The boto3 client for a service, built once per resource instance."""
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=self.region_name, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.aws_account_id or self._call(self.client("sts"), "get_caller_identity")["Account"]
        return self._account

    @property
    def region(self) -> str:
        return self.client().meta.region_name

    def _arn(self, kind: str, resource_id: str) -> str:
        partition = self.client().meta.partition
        return f"arn:{partition}:quicksight:{self.region}:{self.account_id()}:{kind}/{resource_id}"

    @staticmethod
    def _error(operation: str, e) -> DashboardError:
        err = e.response.get("Error", {})
        hint = ""
        if err.get("Code") in ("AccessDeniedException", "AccessDenied"):
            hint = " (the identity running Dagster needs QuickSight's data source / data set / dashboard / ingestion actions)"
        return DashboardError(f"QuickSight {operation}: {err.get('Code')}: {err.get('Message')}{hint}")

    def _call(self, client, operation: str, **params):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(client, operation)(**params)
        except ClientError as e:
            raise self._error(operation, e) from None
        except BotoCoreError as e:
            raise DashboardError(f"QuickSight {operation}: {e}") from None

    def _describe(self, operation: str, key: str, **params) -> dict | None:
        """The described object, or None if it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(), operation)(AwsAccountId=self.account_id(), **params)[key]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise self._error(operation, e) from None
        except BotoCoreError as e:
            raise DashboardError(f"QuickSight {operation}: {e}") from None

    def _qs(self, operation: str, **params) -> dict:
        return self._call(self.client(), operation, AwsAccountId=self.account_id(), **params)

    def _attempts(self, timeout: float) -> int:
        if self.poll_interval_seconds <= 0:
            return 1
        return max(1, math.ceil(round(timeout / self.poll_interval_seconds, 6)))

    def _require(self, *fields: str) -> None:
        env = {
            "principal_arn": "CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN",
            "vpc_connection_arn": "CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN",
            "rds_secret_arn": "CLICKPIPE_RDS_SECRET_ARN",
            "rds_host": "CLICKPIPE_RDS_HOST",
        }
        missing = [env[f] for f in fields if not getattr(self, f)]
        if missing:
            raise DashboardError(
                f"QuickSight needs {', '.join(missing)} (see README, 'Dashboards'); "
                "a stack deployed with -c quicksight=false has no VPC connection for QuickSight"
            )
        if self.import_mode not in IMPORT_MODES:
            raise DashboardError(f"CLICKPIPE_QUICKSIGHT_IMPORT_MODE={self.import_mode!r} is not one of {', '.join(IMPORT_MODES)}")

    def _permissions(self, actions) -> list[dict]:
        return [{"Principal": self.principal_arn, "Actions": sorted(actions)}]

    def _tags(self) -> list[dict]:
        return [{"Key": "project", "Value": "clickpipe"}]

    def _ensure_permissions(self, kind: str, id_param: dict, actions) -> list[str]:
        """Grant the principal whatever owner actions it lacks; returns what was granted."""
        described = self._qs(f"describe_{kind}_permissions", **id_param)
        held = {a for p in described.get("Permissions") or [] if p["Principal"] == self.principal_arn for a in p["Actions"]}
        missing = sorted(set(actions) - held)
        if missing:
            grant = [{"Principal": self.principal_arn, "Actions": missing}]
            self._qs(f"update_{kind}_permissions", **id_param, GrantPermissions=grant)
        return missing

    # -- data source ------------------------------------------------------------------------------------

    @property
    def data_source_id(self) -> str:
        return f"{self.id_prefix}-rds"

    @property
    def data_source_arn(self) -> str:
        return self._arn("datasource", self.data_source_id)

    def data_source_request(self) -> dict:
        """What the data source should be (Credentials are write-only: compared through SecretArn)."""
        return {
            "Name": f"{self.dashboard_name} marts (RDS PostgreSQL)",
            "Type": "POSTGRESQL",
            "DataSourceParameters": {
                "PostgreSqlParameters": {"Host": self.rds_host, "Port": self.rds_port, "Database": self.rds_database}
            },
            "Credentials": {"SecretArn": self.rds_secret_arn},
            "VpcConnectionProperties": {"VpcConnectionArn": self.vpc_connection_arn},
            "SslProperties": {"DisableSsl": False},
        }

    @staticmethod
    def _data_source_differs(current: dict, want: dict) -> list[str]:
        diffs = [k for k in ("Name", "Type", "DataSourceParameters", "VpcConnectionProperties") if current.get(k) != want[k]]
        if (current.get("SslProperties") or {"DisableSsl": False}) != want["SslProperties"]:
            diffs.append("SslProperties")
        if "SecretArn" in current and current["SecretArn"] != want["Credentials"]["SecretArn"]:
            diffs.append("SecretArn")
        return diffs

    def _wait_data_source(self) -> dict:
        status = ""
        for i in range(attempts := self._attempts(self.creation_timeout_seconds)):
            current = self._describe("describe_data_source", "DataSource", DataSourceId=self.data_source_id)
            status = (current or {}).get("Status", "")
            if status and not status.endswith("_IN_PROGRESS"):
                if status.endswith("_FAILED"):
                    info = current.get("ErrorInfo") or {}
                    raise DashboardError(
                        f"QuickSight data source {self.data_source_id}: {status}: {info.get('Type')}: {info.get('Message')}"
                    )
                return current
            if i + 1 < attempts:
                time.sleep(self.poll_interval_seconds)
        raise DashboardError(
            f"QuickSight data source {self.data_source_id} still {status or 'missing'} after {self.creation_timeout_seconds:g} s"
        )

    def publish_data_source(self, warehouse=None) -> Published:
        self._require("principal_arn", "vpc_connection_arn", "rds_secret_arn", "rds_host")
        want = self.data_source_request()
        current = self._describe("describe_data_source", "DataSource", DataSourceId=self.data_source_id)
        granted: list[str] = []
        if current is None:
            self._qs("create_data_source", DataSourceId=self.data_source_id, **want,
                     Permissions=self._permissions(DATA_SOURCE_ACTIONS), Tags=self._tags())  # fmt: skip
            action, diffs = "created", []
        else:
            diffs = self._data_source_differs(current, want)
            if diffs:
                self._qs("update_data_source", DataSourceId=self.data_source_id, **{k: v for k, v in want.items() if k != "Type"})
            action = "updated" if diffs else "unchanged"
            granted = self._ensure_permissions("data_source", {"DataSourceId": self.data_source_id}, DATA_SOURCE_ACTIONS)
        final = self._wait_data_source() if action != "unchanged" else current
        return Published(
            action,
            {
                "data_source_id": self.data_source_id,
                "arn": final.get("Arn") or self.data_source_arn,
                "status": final.get("Status"),
                "host": f"{self.rds_host}:{self.rds_port}/{self.rds_database}",
                "vpc_connection": self.vpc_connection_arn,
                "ssl": "on",
                "changed": ", ".join(diffs) or "-",
                "permissions_granted": len(granted),
            },
        )

    # -- data sets --------------------------------------------------------------------------------------

    def data_set_id(self, ds: DashboardDataset | str) -> str:
        ds = DATASETS_BY_NAME[ds] if isinstance(ds, str) else ds
        return ds.data_set_id(self.id_prefix)

    def data_set_request(self, ds: DashboardDataset) -> dict:
        return {
            "DataSetId": self.data_set_id(ds),
            "Name": f"{self.dashboard_name} {ds.name}",
            "PhysicalTableMap": {ds.table_id: ds.physical_table(self.data_source_arn)},
            "ImportMode": self.import_mode,
        }

    @staticmethod
    def _data_set_differs(current: dict, want: dict) -> list[str]:
        diffs = [k for k in ("Name", "ImportMode") if current.get(k) != want[k]]
        ((table_id, table),) = want["PhysicalTableMap"].items()
        have = (current.get("PhysicalTableMap") or {}).get(table_id, {}).get("RelationalTable") or {}
        rel = table["RelationalTable"]
        cols = [{"Name": c.get("Name"), "Type": c.get("Type")} for c in have.get("InputColumns") or []]
        if any(have.get(k) != rel[k] for k in ("DataSourceArn", "Schema", "Name")) or cols != rel["InputColumns"]:
            diffs.append("PhysicalTableMap")
        return diffs

    def _create_or_update_data_set(self, ds: DashboardDataset) -> tuple[str, list[str], str | None, list[str]]:
        """(action, changed fields, ingestion id started by QuickSight, permissions granted)."""
        want = self.data_set_request(ds)
        current = self._describe("describe_data_set", "DataSet", DataSetId=want["DataSetId"])
        if current is None:
            resp = self._qs("create_data_set", **want, Permissions=self._permissions(DATA_SET_ACTIONS), Tags=self._tags())
            return "created", [], resp.get("IngestionId"), []
        diffs = self._data_set_differs(current, want)
        ingestion = None
        if diffs:
            ingestion = self._qs("update_data_set", **want).get("IngestionId")
        granted = self._ensure_permissions("data_set", {"DataSetId": want["DataSetId"]}, DATA_SET_ACTIONS)
        return ("updated" if diffs else "unchanged"), diffs, ingestion, granted

    def start_ingestion(self, data_set_id: str) -> str:
        ingestion_id = f"clickpipe-{uuid.uuid4().hex}"
        self._qs("create_ingestion", DataSetId=data_set_id, IngestionId=ingestion_id, IngestionType="FULL_REFRESH")
        return ingestion_id

    def wait_for_ingestions(self, ingestions: dict[str, str]) -> dict[str, Refresh]:
        """Poll describe_ingestion for each {data set id: ingestion id} until all are done or the
        deadline passes (at most ingestion_timeout_seconds of polling)."""
        out: dict[str, Refresh] = {}
        last: dict[str, dict] = {}
        pending = dict(ingestions)
        for i in range(attempts := self._attempts(self.ingestion_timeout_seconds)):
            for data_set_id, ingestion_id in list(pending.items()):
                ing = self._qs("describe_ingestion", DataSetId=data_set_id, IngestionId=ingestion_id)["Ingestion"]
                last[data_set_id] = ing
                if ing["IngestionStatus"] in INGESTION_DONE:
                    out[data_set_id] = _refresh_from(ing, ingestion_id)
                    del pending[data_set_id]
            if not pending:
                break
            if i + 1 < attempts:
                time.sleep(self.poll_interval_seconds)
        for data_set_id, ingestion_id in pending.items():
            status = last.get(data_set_id, {}).get("IngestionStatus", "unknown")
            out[data_set_id] = Refresh(
                "TIMED_OUT",
                f"SPICE ingestion {ingestion_id} still {status} after {self.ingestion_timeout_seconds:g} s; "
                "it goes on in QuickSight (see the data set's refresh history)",
                {"ingestion_id": ingestion_id, "last_status": status},
            )
        return out

    def publish_data_sets(self, datasets, warehouse=None) -> dict[str, Published]:
        self._require("principal_arn")
        results: dict[str, Published] = {}
        ingestions: dict[str, str] = {}
        for ds in datasets:
            action, diffs, ingestion_id, granted = self._create_or_update_data_set(ds)
            data_set_id = self.data_set_id(ds)
            if self.import_mode == "SPICE":
                ingestions[data_set_id] = ingestion_id or self.start_ingestion(data_set_id)
            results[ds.name] = Published(
                action,
                {
                    "data_set_id": data_set_id,
                    "arn": self._arn("dataset", data_set_id),
                    "table": f"{ds.schema}.{ds.table}",
                    "import_mode": self.import_mode,
                    "changed": ", ".join(diffs) or "-",
                    "permissions_granted": len(granted),
                },
            )
        refreshes = self.wait_for_ingestions(ingestions) if ingestions else {}
        for ds in datasets:
            data_set_id = self.data_set_id(ds)
            results[ds.name].refresh = refreshes.get(data_set_id) or Refresh(
                "NOT_NEEDED", "DIRECT_QUERY: QuickSight queries RDS live, there is no SPICE copy to refresh"
            )
        return results

    # -- dashboard ---------------------------------------------------------------------------------------

    @property
    def dashboard_id(self) -> str:
        return f"{self.id_prefix}-dashboard"

    def dashboard_request(self) -> dict:
        arns = {name: self._arn("dataset", self.data_set_id(name)) for name in dash.DATASETS_USED}
        definition = dash.dashboard_definition(arns, default_currency=self.default_currency)
        digest = dash.definition_digest(definition, name=self.dashboard_name, options=PUBLISH_OPTIONS)
        return {
            "DashboardId": self.dashboard_id,
            "Name": self.dashboard_name,
            "Definition": definition,
            "VersionDescription": f"clickpipe definition {digest}",
            "DashboardPublishOptions": PUBLISH_OPTIONS,
            "ValidationStrategy": {"Mode": "STRICT"},
        }

    def _wait_dashboard_version(self, version: int) -> dict:
        status = ""
        for i in range(attempts := self._attempts(self.creation_timeout_seconds)):
            current = self._describe("describe_dashboard", "Dashboard", DashboardId=self.dashboard_id, VersionNumber=version)
            v = (current or {}).get("Version") or {}
            status = v.get("Status", "")
            if status and not status.endswith("_IN_PROGRESS"):
                if status.endswith("_FAILED"):
                    errors = "; ".join(f"{e.get('Type')}: {e.get('Message')}" for e in v.get("Errors") or [])
                    raise DashboardError(
                        f"QuickSight dashboard {self.dashboard_id} version {version}: {status}: {errors or 'no detail'}"
                    )
                return current
            if i + 1 < attempts:
                time.sleep(self.poll_interval_seconds)
        raise DashboardError(f"QuickSight dashboard {self.dashboard_id} version {version} still {status or 'missing'} "
                             f"after {self.creation_timeout_seconds:g} s")  # fmt: skip

    def publish_dashboard(self, warehouse=None) -> Published:
        self._require("principal_arn")
        want = self.dashboard_request()
        current = self._describe("describe_dashboard", "Dashboard", DashboardId=self.dashboard_id)
        granted: list[str] = []
        if current is None:
            resp = self._qs("create_dashboard", **want, Permissions=self._permissions(DASHBOARD_ACTIONS), Tags=self._tags())
            action, version = "created", _version_of(resp["VersionArn"])
            self._wait_dashboard_version(version)  # the first version is the published one
        elif (current.get("Version") or {}).get("Description") == want["VersionDescription"]:
            action, version = "unchanged", (current.get("Version") or {}).get("VersionNumber")
        else:
            resp = self._qs("update_dashboard", **want)
            action, version = "updated", _version_of(resp["VersionArn"])
            self._wait_dashboard_version(version)
            self._qs("update_dashboard_published_version", DashboardId=self.dashboard_id, VersionNumber=version)
        if current is not None:
            granted = self._ensure_permissions("dashboard", {"DashboardId": self.dashboard_id}, DASHBOARD_ACTIONS)
        return Published(
            action,
            {
                "dashboard_id": self.dashboard_id,
                "arn": self._arn("dashboard", self.dashboard_id),
                "published_version": version,
                "definition": want["VersionDescription"],
                "sheets": len(dash.SHEETS),
                "visuals": len(dash.ALL_VISUALS),
                "url": dg.MetadataValue.url(f"https://{self.region}.quicksight.aws.amazon.com/sn/dashboards/{self.dashboard_id}"),
                "permissions_granted": len(granted),
            },
        )


def _version_of(version_arn: str) -> int:
    """arn:...:dashboard/<id>/version/<n> -> n"""
    try:
        return int(version_arn.rsplit("/version/", 1)[1])
    except (IndexError, ValueError):
        raise DashboardError(f"unexpected dashboard version ARN {version_arn!r}") from None


def _refresh_from(ing: dict, ingestion_id: str) -> Refresh:
    status = ing["IngestionStatus"]
    rows = ing.get("RowInfo") or {}
    md = {
        "ingestion_id": ingestion_id,
        "status": status,
        "rows_ingested": rows.get("RowsIngested"),
        "rows_dropped": rows.get("RowsDropped"),
        "total_rows": rows.get("TotalRowsInDataset"),
        "seconds": ing.get("IngestionTimeInSeconds"),
    }
    md = {k: v for k, v in md.items() if v is not None}
    if status == "COMPLETED":
        dropped = rows.get("RowsDropped") or 0
        text = f"SPICE ingestion {ingestion_id} completed: {rows.get('RowsIngested', '?')} rows"
        if dropped:
            text += f", {dropped} dropped (QuickSight could not read them; see the data set's refresh report)"
        return Refresh("ROWS_DROPPED" if dropped else "COMPLETED", text, md)
    info = ing.get("ErrorInfo") or {}
    md.update({k: v for k, v in {"error_type": info.get("Type"), "error": info.get("Message")}.items() if v})
    text = f"SPICE ingestion {ingestion_id} {status}: {info.get('Type', '')} {info.get('Message', '')}".strip()
    return Refresh(status, text, md)
