"""Stand-in for the QuickSight calls moto lacks (describe/update of data sets, ingestions,
permissions, dashboard versions), kept consistent with the ones it has.

Every QuickSight request is first checked against the service model, patterns and lengths included
(``rehearsal.model_check``, in the emulator); this store then answers from what the requests
created. A SPICE ingestion really reads its table: it connects to the data source's PostgreSQL
(host, port, database; the credentials from its Secrets Manager secret, which QuickSight reads with
its own service role) with TLS required, selects the data set's input columns from its schema and
table, and reports the rows it read; a missing table or column is a FAILED ingestion with
QuickSight's error type. A dashboard version fails when its definition names a data set that does
not exist, or a field its data set does not have or of a type its use does not accept
(``rehearsal.definition_check``).
"""

from __future__ import annotations

import copy
import threading
import time

from rehearsal.definition_check import PARAMETER_PROBLEM, field_problems
from rehearsal.template import ACCOUNT, REGION

QS = f"arn:aws:quicksight:{REGION}:{ACCOUNT}"


class NotFound(Exception):
    pass


class QuickSightStore:
    def __init__(self, *, read_secret, log=print):
        self.read_secret = read_secret  # secret ARN -> dict (username, password)
        self.sources: dict[str, dict] = {}
        self.sets: dict[str, dict] = {}
        self.ingestions: dict[tuple[str, str], dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.permissions: dict[str, list[dict]] = {}
        self.log = log
        self._lock = threading.Lock()

    # each handler takes the operation's parameters and returns the response body (a dict)
    def handle(self, op: str, p: dict) -> dict:
        handler = getattr(self, "_" + "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_"), None)
        if handler is None:
            raise NotImplementedError(f"QuickSight {op} is not rehearsed")
        with self._lock:
            return {"Status": 200, "RequestId": "rehearsal", **handler(p)}

    def _grant(self, arn: str, permissions: list[dict] | None) -> None:
        held = self.permissions.setdefault(arn, [])
        for perm in permissions or []:
            mine = next((h for h in held if h["Principal"] == perm["Principal"]), None)
            if mine is None:
                held.append({"Principal": perm["Principal"], "Actions": sorted(perm["Actions"])})
            else:
                mine["Actions"] = sorted(set(mine["Actions"]) | set(perm["Actions"]))

    # -- data sources ------------------------------------------------------------------------------

    def _create_data_source(self, p):
        arn = f"{QS}:datasource/{p['DataSourceId']}"
        creds = p.get("Credentials") or {}
        self.sources[p["DataSourceId"]] = {
            "Arn": arn, "DataSourceId": p["DataSourceId"], "Name": p["Name"], "Type": p["Type"], "Status": "CREATION_SUCCESSFUL",
            "DataSourceParameters": p.get("DataSourceParameters"), "VpcConnectionProperties": p.get("VpcConnectionProperties"),
            "SslProperties": p.get("SslProperties") or {"DisableSsl": False}, "SecretArn": creds.get("SecretArn"),
        }  # fmt: skip
        self._grant(arn, p.get("Permissions"))
        return {"Arn": arn, "DataSourceId": p["DataSourceId"], "CreationStatus": "CREATION_IN_PROGRESS"}

    def _update_data_source(self, p):
        src = self._get(self.sources, p["DataSourceId"])
        for k in ("Name", "DataSourceParameters", "VpcConnectionProperties", "SslProperties"):
            if k in p:
                src[k] = p[k]
        if (p.get("Credentials") or {}).get("SecretArn"):
            src["SecretArn"] = p["Credentials"]["SecretArn"]
        src["Status"] = "UPDATE_SUCCESSFUL"
        return {"Arn": src["Arn"], "DataSourceId": src["DataSourceId"], "UpdateStatus": "UPDATE_IN_PROGRESS"}

    def _describe_data_source(self, p):
        return {"DataSource": copy.deepcopy(self._get(self.sources, p["DataSourceId"]))}

    def _describe_data_source_permissions(self, p):
        src = self._get(self.sources, p["DataSourceId"])
        return {"DataSourceArn": src["Arn"], "DataSourceId": src["DataSourceId"], "Permissions": self.permissions.get(src["Arn"], [])}

    def _update_data_source_permissions(self, p):
        src = self._get(self.sources, p["DataSourceId"])
        self._grant(src["Arn"], p.get("GrantPermissions"))
        return {"DataSourceArn": src["Arn"], "DataSourceId": src["DataSourceId"]}

    # -- data sets and SPICE -----------------------------------------------------------------------

    def _create_data_set(self, p):
        arn = f"{QS}:dataset/{p['DataSetId']}"
        self.sets[p["DataSetId"]] = {"Arn": arn, "DataSetId": p["DataSetId"], "Name": p["Name"], "ImportMode": p["ImportMode"],
                                     "PhysicalTableMap": p["PhysicalTableMap"]}  # fmt: skip
        self._grant(arn, p.get("Permissions"))
        out = {"Arn": arn, "DataSetId": p["DataSetId"]}
        if p["ImportMode"] == "SPICE":  # creating a SPICE data set starts its first ingestion
            ingestion = f"initial-{p['DataSetId']}"
            self._ingest(p["DataSetId"], ingestion)
            out["IngestionId"], out["IngestionArn"] = ingestion, f"{arn}/ingestion/{ingestion}"
        return out

    def _update_data_set(self, p):
        ds = self._get(self.sets, p["DataSetId"])
        ds.update({k: p[k] for k in ("Name", "ImportMode", "PhysicalTableMap") if k in p})
        out = {"Arn": ds["Arn"], "DataSetId": ds["DataSetId"]}
        if ds["ImportMode"] == "SPICE":
            ingestion = f"update-{int(time.time() * 1000)}"
            self._ingest(ds["DataSetId"], ingestion)
            out["IngestionId"], out["IngestionArn"] = ingestion, f"{ds['Arn']}/ingestion/{ingestion}"
        return out

    def _describe_data_set(self, p):
        return {"DataSet": copy.deepcopy(self._get(self.sets, p["DataSetId"]))}

    def _describe_data_set_permissions(self, p):
        ds = self._get(self.sets, p["DataSetId"])
        return {"DataSetArn": ds["Arn"], "DataSetId": ds["DataSetId"], "Permissions": self.permissions.get(ds["Arn"], [])}

    def _update_data_set_permissions(self, p):
        ds = self._get(self.sets, p["DataSetId"])
        self._grant(ds["Arn"], p.get("GrantPermissions"))
        return {"DataSetArn": ds["Arn"], "DataSetId": ds["DataSetId"]}

    def _create_ingestion(self, p):
        ds = self._get(self.sets, p["DataSetId"])
        self._ingest(p["DataSetId"], p["IngestionId"])
        arn = f"{ds['Arn']}/ingestion/{p['IngestionId']}"
        return {"Arn": arn, "IngestionId": p["IngestionId"], "IngestionStatus": "INITIALIZED"}

    def _describe_ingestion(self, p):
        key = (p["DataSetId"], p["IngestionId"])
        if key not in self.ingestions:
            raise NotFound(f"ingestion {p['IngestionId']} of data set {p['DataSetId']}")
        return {"Ingestion": copy.deepcopy(self.ingestions[key])}

    def _ingest(self, data_set_id: str, ingestion_id: str) -> None:
        """Read the data set's table the way SPICE does; the outcome is known at once."""
        import psycopg

        ds = self.sets[data_set_id]
        started = time.time()
        record = {"Arn": f"{ds['Arn']}/ingestion/{ingestion_id}", "IngestionId": ingestion_id, "RequestSource": "MANUAL",
                  "RequestType": "FULL_REFRESH", "CreatedTime": started}  # fmt: skip
        try:
            (table,) = ds["PhysicalTableMap"].values()
            rel = table["RelationalTable"]
            source_id = rel["DataSourceArn"].rsplit("/", 1)[1]
            src = self.sources[source_id]
            pg = src["DataSourceParameters"]["PostgreSqlParameters"]
            secret = self.read_secret(src["SecretArn"])
            cols = ", ".join(f'"{c["Name"]}"' for c in rel["InputColumns"])
            with psycopg.connect(host=pg["Host"], port=pg["Port"], dbname=pg["Database"], user=secret["username"],
                                 password=secret["password"], sslmode="require", connect_timeout=10) as con:  # fmt: skip
                rows = con.execute(f'SELECT {cols} FROM "{rel["Schema"]}"."{rel["Name"]}"').fetchall()
            record.update({"IngestionStatus": "COMPLETED", "RowInfo": {"RowsIngested": len(rows), "RowsDropped": 0, "TotalRowsInDataset": len(rows)}})
        except Exception as e:
            kind = "SOURCE_TABLE_NOT_FOUND" if "does not exist" in str(e) and "relation" in str(e) else "SQL_EXCEPTION"
            record.update({"IngestionStatus": "FAILED", "ErrorInfo": {"Type": kind, "Message": str(e).strip()[:500]}})
        record["IngestionTimeInSeconds"] = max(1, int(time.time() - started))
        self.ingestions[(data_set_id, ingestion_id)] = record
        self.log(f"[quicksight] ingestion {data_set_id}/{ingestion_id}: {record['IngestionStatus']} {record.get('RowInfo') or record.get('ErrorInfo')}")

    # -- dashboards --------------------------------------------------------------------------------

    def _definition_errors(self, definition: dict) -> list[dict]:
        """What QuickSight refuses when it builds the version: a data set that does not exist, a field its
        data set (as created here) does not have or of a type its use does not accept, an undeclared
        parameter (``rehearsal.definition_check``; the error types are the closest of the API's enum)."""
        declarations = definition.get("DataSetIdentifierDeclarations", [])
        missing = [d["DataSetArn"] for d in declarations if d["DataSetArn"].rsplit("/", 1)[1] not in self.sets]
        if missing:
            return [{"Type": "DATA_SET_NOT_FOUND", "Message": f"data set {a} does not exist"} for a in missing]
        columns = {}
        for d in declarations:
            (table,) = self.sets[d["DataSetArn"].rsplit("/", 1)[1]]["PhysicalTableMap"].values()
            columns[d["Identifier"]] = {c["Name"]: c["Type"] for c in table["RelationalTable"]["InputColumns"]}
        return [
            {"Type": "PARAMETER_NOT_FOUND" if PARAMETER_PROBLEM in problem else "COLUMN_TYPE_MISMATCH", "Message": problem}
            for problem in field_problems(definition, columns)
        ]

    def _version(self, dash: dict, p: dict, status: str) -> dict:
        number = len(dash["versions"]) + 1
        definition = p.get("Definition") or {}
        errors = self._definition_errors(definition)
        version = {
            "VersionNumber": number, "Arn": f"{dash['Arn']}/version/{number}", "Description": p.get("VersionDescription"),
            "Status": status.replace("SUCCESSFUL", "FAILED") if errors else status, "CreatedTime": time.time(),
            "DataSetArns": [d["DataSetArn"] for d in definition.get("DataSetIdentifierDeclarations", [])],
            "Sheets": [{"SheetId": s["SheetId"], "Name": s.get("Name")} for s in definition.get("Sheets", [])],
        }  # fmt: skip
        if errors:
            version["Errors"] = errors
        dash["versions"].append(version)
        return version

    def _create_dashboard(self, p):
        arn = f"{QS}:dashboard/{p['DashboardId']}"
        dash = {"Arn": arn, "DashboardId": p["DashboardId"], "Name": p["Name"], "versions": [], "published": 1}
        self.dashboards[p["DashboardId"]] = dash
        version = self._version(dash, p, "CREATION_SUCCESSFUL")
        self._grant(arn, p.get("Permissions"))
        return {"Arn": arn, "VersionArn": version["Arn"], "DashboardId": p["DashboardId"], "CreationStatus": "CREATION_IN_PROGRESS"}

    def _update_dashboard(self, p):
        dash = self._get(self.dashboards, p["DashboardId"])
        dash["Name"] = p.get("Name", dash["Name"])
        version = self._version(dash, p, "UPDATE_SUCCESSFUL")
        return {"Arn": dash["Arn"], "VersionArn": version["Arn"], "DashboardId": dash["DashboardId"], "CreationStatus": "CREATION_IN_PROGRESS"}

    def _update_dashboard_published_version(self, p):
        dash = self._get(self.dashboards, p["DashboardId"])
        n = int(p["VersionNumber"])
        if not 1 <= n <= len(dash["versions"]):
            raise NotFound(f"version {n} of dashboard {dash['DashboardId']}")
        dash["published"] = n
        return {"DashboardId": dash["DashboardId"], "DashboardArn": dash["Arn"]}

    def _describe_dashboard(self, p):
        dash = self._get(self.dashboards, p["DashboardId"])
        n = int(p.get("VersionNumber") or dash["published"])
        if not 1 <= n <= len(dash["versions"]):
            raise NotFound(f"version {n} of dashboard {dash['DashboardId']}")
        v = dash["versions"][n - 1]
        return {"Dashboard": {"DashboardId": dash["DashboardId"], "Arn": dash["Arn"], "Name": dash["Name"], "Version": copy.deepcopy(v)}}

    def _describe_dashboard_permissions(self, p):
        dash = self._get(self.dashboards, p["DashboardId"])
        return {"DashboardArn": dash["Arn"], "DashboardId": dash["DashboardId"], "Permissions": self.permissions.get(dash["Arn"], [])}

    def _update_dashboard_permissions(self, p):
        dash = self._get(self.dashboards, p["DashboardId"])
        self._grant(dash["Arn"], p.get("GrantPermissions"))
        return {"DashboardArn": dash["Arn"], "DashboardId": dash["DashboardId"], "Permissions": self.permissions[dash["Arn"]]}

    @staticmethod
    def _get(store: dict, key: str) -> dict:
        if key not in store:
            raise NotFound(key)
        return store[key]
