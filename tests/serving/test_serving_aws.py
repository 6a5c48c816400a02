"""The AWS side of the serving layer against the AWS API emulator (moto server on localhost):
botocore validates every request against the real API models, moto stores what it accepts."""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from decimal import Decimal

import boto3
import pytest

from clickpipe_core import catalog
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from clickpipe_dagster.resources.athena import GlueCatalogResource
from clickpipe_dagster.resources.athena_query import AthenaQueryResource, athena_literal
from clickpipe_dagster.resources.warehouse import RdsWarehouseResource
from clickpipe_core.errors import WarehouseError

LAKE = "s3://clickpipe-lake/prod/"


def _deploy_tables(database: str, lake: str, datasets) -> None:
    """What the CloudFormation stack does (infra/cdk/clickpipe_infra/query.py): one table per dataset
    from catalog.glue_table_input."""
    glue = boto3.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    for ds in datasets:
        glue.create_table(DatabaseName=database, TableInput=catalog.glue_table_input(ds, lake))


def test_glue_tables_with_partition_projection_are_accepted(aws_env):
    datasets = [USERS, TRANSACTIONS, CLICKS]
    _deploy_tables("clickpipe_test1", LAKE, datasets)
    glue = boto3.client("glue")
    clicks = glue.get_table(DatabaseName="clickpipe_test1", Name="clicks")["Table"]
    p = clicks["Parameters"]
    assert p["projection.enabled"] == "true"
    assert p["projection.dt.type"] == "date" and p["projection.dt.format"] == "yyyy-MM-dd"
    assert p["projection.event_type.type"] == "enum" and "add_to_cart" in p["projection.event_type.values"].split(",")
    assert p["storage.location.template"] == "s3://clickpipe-lake/prod/processed/clicks/dt=${dt}/event_type=${event_type}/"
    assert [k["Name"] for k in clicks["PartitionKeys"]] == ["dt", "event_type"]
    assert "event_type" not in [c["Name"] for c in clicks["StorageDescriptor"]["Columns"]]
    tx = glue.get_table(DatabaseName="clickpipe_test1", Name="transactions")["Table"]
    types = {c["Name"]: c["Type"] for c in tx["StorageDescriptor"]["Columns"]}
    assert types["amount"] == "decimal(18,2)" and types["transaction_ts"] == "timestamp"
    users = glue.get_table(DatabaseName="clickpipe_test1", Name="users")["Table"]
    assert "projection.enabled" not in users["Parameters"] and users["PartitionKeys"] == []


def test_the_asset_verifies_the_stacks_tables_and_never_writes_them(aws_env):
    """One owner per AWS object: the stack creates the tables; the resource only reads and compares."""
    from clickpipe_dagster.resources.athena import QueryError

    datasets = [USERS, TRANSACTIONS, CLICKS]
    res = GlueCatalogResource(database="clickpipe_test2")
    with pytest.raises(QueryError, match="database clickpipe_test2 does not exist.*deploy it again"):
        res.ensure_tables(LAKE, datasets)
    _deploy_tables("clickpipe_test2", LAKE, [USERS, TRANSACTIONS])
    with pytest.raises(QueryError, match=r"clickpipe_test2.clicks is missing.*deploy it again"):
        res.ensure_tables(LAKE, datasets)
    glue = boto3.client("glue")
    assert sorted(t["Name"] for t in glue.get_tables(DatabaseName="clickpipe_test2")["TableList"]) == ["transactions", "users"]
    glue.create_table(DatabaseName="clickpipe_test2", TableInput=catalog.glue_table_input(CLICKS, LAKE))
    done = res.ensure_tables(LAKE, datasets)
    assert {t: v["action"] for t, v in done.items()} == {"users": "verified", "transactions": "verified", "clicks": "verified"}
    with pytest.raises(QueryError, match=r"clickpipe_test2.transactions differs .* in Parameters, Location"):
        res.ensure_tables("s3://other-bucket/", [TRANSACTIONS])  # a checkout whose lake the stack does not know
    tx = glue.get_table(DatabaseName="clickpipe_test2", Name="transactions")["Table"]
    assert tx["StorageDescriptor"]["Location"] == "s3://clickpipe-lake/prod/processed/transactions/"  # untouched


def test_glue_table_input_is_one_definition(aws_env):
    """The asset, the CDK app and DuckDB read the same columns from catalog.py."""
    ti = catalog.glue_table_input(CLICKS, LAKE)
    duck = [n for n, _ in catalog.duckdb_columns(CLICKS)]
    glue = [c["Name"] for c in ti["StorageDescriptor"]["Columns"]] + [k["Name"] for k in ti["PartitionKeys"]]
    assert duck == glue


def _queue_athena_results(endpoint, rows, columns):
    body = {
        "account_id": "123456789012",
        "region": "us-east-1",
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": c} for c in [n for n, _ in columns]]}]
                + [{"Data": [{"VarCharValue": v} if v is not None else {} for v in r]} for r in rows],
                "column_info": [
                    {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n, "Type": t,
                     "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False}
                    for n, t in columns
                ],
            }
        ],
    }  # fmt: skip
    req = urllib.request.Request(endpoint + "/moto-api/static/athena/query-results", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    urllib.request.urlopen(req).read()


def test_athena_query_resource_sends_workgroup_reuse_and_parameters(aws_env):
    from dagster_aws.athena import AthenaClientResource

    athena = boto3.client("athena")
    athena.create_work_group(Name="clickpipe-wg", Configuration={"ResultConfiguration": {"OutputLocation": "s3://r/"}})
    _queue_athena_results(
        aws_env,
        [["2026-11-01", "USD", "12", "345.67"], ["2026-11-02", "EUR", "3", None]],
        [("dt", "date"), ("currency", "varchar"), ("orders", "bigint"), ("revenue", "decimal(18,2)")],
    )
    res = AthenaQueryResource(
        athena=AthenaClientResource(workgroup="clickpipe-wg", polling_interval=1), database="clickpipe",
        result_reuse_max_age_minutes=30,
    )  # fmt: skip
    sql = "SELECT dt, currency, COUNT(*) AS orders, SUM(amount) AS revenue FROM transactions WHERE dt = ? GROUP BY 1, 2"
    result = res.query(sql, ["2026-11-01"])
    assert result.engine == "athena" and result.bytes_scanned is not None and result.bytes_scanned >= 0
    assert result.columns == ["dt", "currency", "orders", "revenue"]
    assert result.rows == [(date(2026, 11, 1), "USD", 12, Decimal("345.67")), (date(2026, 11, 2), "EUR", 3, None)]
    execution = athena.get_query_execution(QueryExecutionId=result.query_id)["QueryExecution"]
    assert execution["Query"] == sql and execution["WorkGroup"] == "clickpipe-wg"
    assert execution["QueryExecutionContext"]["Database"] == "clickpipe"


def test_athena_parameters_are_literals_not_sql():
    assert athena_literal("O'Brien") == "'O''Brien'"
    assert athena_literal("x'; DROP TABLE users; --") == "'x''; DROP TABLE users; --'"
    assert athena_literal(date(2026, 11, 1)) == "DATE '2026-11-01'"
    assert athena_literal(5) == "5" and athena_literal(None) == "NULL"


def test_rds_credentials_come_from_secrets_manager_with_tls_required(aws_env):
    sm = boto3.client("secretsmanager")
    secret = {"username": "clickpipe", "password": "p@ss/word:1", "host": "db.example.internal", "port": 5432,
              "dbname": "analytics", "engine": "postgres"}  # fmt: skip
    arn = sm.create_secret(Name="clickpipe/rds-test", SecretString=json.dumps(secret))["ARN"]
    wh = RdsWarehouseResource(secret_arn=arn)
    url = wh.url()
    assert url.startswith("postgresql://clickpipe:p%40ss%2Fword%3A1@db.example.internal:5432/analytics?")
    assert url.endswith("sslmode=require")
    assert "p%40ss" not in wh.display_url()
    # Glue gets the ARN (it reads the secret itself); nothing secret goes into job arguments or env.
    assert wh.job_arguments() == {"--pg-secret-arn": arn, "--pg-sslmode": "require"} and wh.job_env() == {}
    with pytest.raises(WarehouseError, match="needs TLS"):
        RdsWarehouseResource(secret_arn=arn, sslmode="disable").url()
    with pytest.raises(WarehouseError, match="CLICKPIPE_RDS_SECRET_ARN"):
        RdsWarehouseResource(secret_arn=arn.replace("rds-test", "missing")).url()


def test_job2_reads_the_processed_zone_from_s3(aws_env, monkeypatch, lake, pg_url, fixture_rows):
    """The same job with an s3:// lake: files are staged from S3, marts land in PostgreSQL."""
    import psycopg

    from serving_data import DAYS, expected_revenue
    from support import run_job2

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="clickpipe-job2")
    for f in lake.rglob("*.parquet"):
        s3.upload_file(str(f), "clickpipe-job2", "prod/" + f.relative_to(lake).as_posix())
    assert run_job2(monkeypatch, pg_url, "s3://clickpipe-job2/prod", "daily", DAYS) == 0
    assert run_job2(monkeypatch, pg_url, "s3://clickpipe-job2/prod", "users") == 0
    with psycopg.connect(pg_url) as con:
        revenue = con.execute("SELECT SUM(revenue), COUNT(*) FROM marts.revenue_daily").fetchone()
        users = con.execute("SELECT COUNT(*) FROM marts.users").fetchone()[0]
    want = expected_revenue(fixture_rows)
    assert revenue == (sum(v[2] for v in want.values()), len(want))
    assert users == len(fixture_rows["users"])
