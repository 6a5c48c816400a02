"""The rehearsal, end to end: ``python -m rehearsal.run --cdk-out infra/cdk/cdk.out.rehearsal``.

1. Start the RDS stand-in (TLS PostgreSQL) and the emulator (moto + stand-ins, IAM enforced).
2. Deploy the synthesized template into it as the deployer (``rehearsal.deploy``); the RDS master
   secret goes to Secrets Manager and its ARN, host and port into the template's values.
3. Clicks: the generator Lambda runs from its asset on the template's schedule input (its role),
   Kinesis holds the records, the Firehose stand-in delivers them to ``raw/clicks/`` (its roles).
4. The AWS path: the asset graph with ``CLICKPIPE_ENV=aws`` and the stack's outputs, as the Dagster
   role: raw batch files, Glue Job 1 on Spark for each partition, Athena tables and the
   reconciliation queries, Glue Job 2 on Spark into PostgreSQL, QuickSight data source, data sets,
   SPICE ingestions and the dashboard.
5. The local path: the same batch files and the same click records (read back from Kinesis) through
   ``CLICKPIPE_ENV=local`` (local Firehose, DuckDB, embedded PostgreSQL).
6. Compare every mart row by row; probe that IAM refuses what the roles may not do; report.
Exits 0 when everything holds; the JSON report says what ran under which role.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rehearsal.rds import TlsPostgres
from rehearsal.template import ACCOUNT, REGION, Stack

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra" / "cdk"))
from outputs_to_env import ENV_VARS, output_key  # noqa: E402

PRINCIPAL = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/clickpipe-analysts"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rehearse(cdk_out: Path, workdir: Path, *, invocations: int = 3) -> dict:
    import boto3

    from clickpipe_core.generator.batch import generate
    from rehearsal.deploy import bucket_deployments, deploy
    from rehearsal.firehose import Firehose
    from rehearsal.glue import runtime_python
    from rehearsal.lambda_ import invoke

    t0 = time.perf_counter()
    report: dict = {"timings": {}, "checks": {}}

    def phase(name: str) -> None:
        report["timings"][name] = round(time.perf_counter() - t0, 1)
        print(f"[rehearsal] {time.perf_counter() - t0:7.1f}s {name}", flush=True)

    def check(name: str, ok: bool, detail="") -> None:
        report["checks"][name] = {"ok": bool(ok), "detail": detail}
        print(f"[rehearsal]   {'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail)[:400] if detail else ''}", flush=True)

    stack = Stack(cdk_out)
    db_lid, db = stack.one("AWS::RDS::DBInstance")
    pg = TlsPostgres(user=db["Properties"]["MasterUsername"], database=db["Properties"]["DBName"]).start()
    state = workdir / "emulator"
    port = _free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "rehearsal.emulator", "--cdk-out", str(cdk_out), "--port", str(port), "--state", str(state)],
        cwd=REPO, stdout=open(workdir / "emulator.out", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    firehose = None
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(600):
            if (state / "ready").exists() or emulator.poll() is not None:
                break
            time.sleep(0.1)
        if not (state / "ready").exists():
            raise RuntimeError(f"the emulator did not start:\n{(workdir / 'emulator.out').read_text()[-3000:]}")
        phase("services up (TLS PostgreSQL, moto with IAM enforcement and the stand-ins)")
        admin_creds = json.loads((state / "admin.json").read_text())

        def client(service: str, creds: dict):
            return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **creds)

        def admin(service: str):
            return client(service, admin_creds)

        def role_creds(role: str) -> dict:
            c = admin("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="rehearsal")["Credentials"]
            return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"], "aws_session_token": c["SessionToken"]}

        secret = admin("secretsmanager").create_secret(
            Name=f"rds!db-{stack.ref(db_lid).lower()}", SecretString=json.dumps({"username": pg.user, "password": pg.password})
        )["ARN"]
        overrides = {(db_lid, "Endpoint.Address"): pg.host, (db_lid, "Endpoint.Port"): str(pg.port), (db_lid, "MasterUserSecret.SecretArn"): secret}
        stack.overrides.update(overrides)
        workgroups = {stack.props(lid)["Name"]: stack.props(lid).get("WorkGroupConfiguration", {}) for lid in stack.of_type("AWS::Athena::WorkGroup")}
        setup = {"overrides": {f"{k[0]}|{k[1]}": v for k, v in overrides.items()}, "workgroups": workgroups}
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/rehearsal/setup", data=json.dumps(setup).encode(), method="POST")).read()
        made = deploy(stack, admin)
        made.pop("workgroups")
        made["bucket_deployments"] = bucket_deployments(stack, lambda role: client("s3", role_creds(role)))
        report["deployed"] = {k: len(v) for k, v in made.items()}
        phase(f"deployed the template: {report['deployed']}")

        # -- the click stream: Lambda -> Kinesis -> Firehose -> raw/clicks/ ---------------------------
        fn_lid = next(lid for lid, r in stack.of_type("AWS::Lambda::Function").items() if "clickpipe_core" in str(r["Properties"].get("Handler")))
        fn_props = stack.props(fn_lid)
        code_key = fn_props["Code"]["S3Key"]
        code_dir = Path(tempfile.mkdtemp(dir=workdir, prefix="lambda-"))
        asset = stack.assets()[code_key]
        shutil.copytree(asset.source, code_dir, dirs_exist_ok=True)
        rule = next(stack.props(lid) for lid in stack.of_type("AWS::Events::Rule") if "ScheduleExpression" in stack.resources[lid]["Properties"])
        event = json.loads(rule["Targets"][0]["Input"])
        generator_role = fn_props["Role"].rsplit("/", 1)[1]
        python = runtime_python(workdir / "runtime")
        sent, events = 0, 0
        for i in range(invocations):
            out = invoke(python=python, code_dir=code_dir, handler=fn_props["Handler"], environment=fn_props["Environment"]["Variables"],
                         credentials=role_creds(generator_role), endpoint=endpoint, region=REGION, event={**event, "seed": 100 + i})  # fmt: skip
            sent += out["records_sent"]
            events += out["events"]
        check("the generator Lambda ran from its asset under its role", events == invocations * event["events"] and sent >= events, f"{events} events, {sent} records (re-deliveries included)")
        fh_lid, fh = stack.one("AWS::KinesisFirehose::DeliveryStream")
        fh_props = stack.props(fh_lid)
        source_role = fh_props["KinesisStreamSourceConfiguration"]["RoleARN"].rsplit("/", 1)[1]
        dest_role = fh_props["ExtendedS3DestinationConfiguration"]["RoleARN"].rsplit("/", 1)[1]
        firehose = Firehose(name=stack.ref(fh_lid), props=fh_props, kinesis=client("kinesis", role_creds(source_role)),
                            s3=client("s3", role_creds(dest_role)), log=lambda m: print(m, flush=True)).start()  # fmt: skip
        deadline = time.time() + 60 + float(fh_props["ExtendedS3DestinationConfiguration"]["BufferingHints"]["IntervalInSeconds"]) * 3
        while time.time() < deadline and not (firehose.records_out >= sent and firehose.idle()):
            time.sleep(0.5)
        check("Firehose delivered every record to raw/clicks/", firehose.records_out == sent, f"{firehose.records_out}/{sent} in {len(firehose.objects)} objects")
        phase("clicks delivered")
        # the same records, read back from the stream, for the local path
        kinesis = admin("kinesis")
        stream = fh_props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"].rsplit("/", 1)[1]
        records = []
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
                records += [r["Data"] for r in resp["Records"]]
                it = resp["NextShardIterator"] if resp["Records"] else None
        clicks_file = workdir / "clicks.ndjson"
        clicks_file.write_bytes(b"".join(records))

        # -- the asset graph, on AWS and locally -----------------------------------------------------
        sample = generate(workdir / "sample", days=2, users=300, transactions_per_day=400, seed=11, dirty_rate=0.03)
        outputs = stack.outputs()
        base_env = {k: os.environ[k] for k in ("PATH", "JAVA_HOME", "LANG", "TMPDIR") if k in os.environ}
        base_env["DAGSTER_TELEMETRY_ENABLED"] = "false"
        dagster_role = stack.role_name("OrchestrationDagsterRole")
        creds = role_creds(dagster_role)
        aws_env = {
            **base_env, "CLICKPIPE_ENV": "aws", "CLICKPIPE_HOME": str(workdir / "aws"), "DAGSTER_HOME": str(workdir / "aws" / "dagster"),
            "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": creds["aws_session_token"], "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint, "CLICKPIPE_RDS_PORT": str(pg.port), "CLICKPIPE_AWS_ACCOUNT_ID": ACCOUNT,
            "CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN": PRINCIPAL,
            **{var: outputs[output_key(var)] for var in ENV_VARS if output_key(var) in outputs},
        }  # fmt: skip
        (workdir / "aws" / "dagster").mkdir(parents=True)
        done = subprocess.run([sys.executable, "-m", "rehearsal.dagster_path", "--sample", str(sample.out), "--out", str(workdir / "aws.json"),
                               "--expect-failure"], env=aws_env, cwd=REPO, capture_output=True, text=True)  # fmt: skip
        (workdir / "aws.log").write_text(done.stdout + done.stderr)
        aws = json.loads((workdir / "aws.json").read_text()) if (workdir / "aws.json").exists() else {}
        report["aws"] = aws
        check("the AWS path ran every job (CLICKPIPE_ENV=aws, Dagster role)", done.returncode == 0,
              "" if done.returncode == 0 else aws.get("failures") or done.stderr[-2000:])  # fmt: skip
        phase("AWS path done")
        local_env = {**base_env, "CLICKPIPE_ENV": "local", "CLICKPIPE_HOME": str(workdir / "local"), "DAGSTER_HOME": str(workdir / "local" / "dagster")}
        (workdir / "local" / "dagster").mkdir(parents=True)
        done = subprocess.run([sys.executable, "-m", "rehearsal.dagster_path", "--sample", str(sample.out), "--out", str(workdir / "local.json"),
                               "--clicks", str(clicks_file)], env=local_env, cwd=REPO, capture_output=True, text=True)  # fmt: skip
        (workdir / "local.log").write_text(done.stdout + done.stderr)
        local = json.loads((workdir / "local.json").read_text()) if (workdir / "local.json").exists() else {}
        report["local"] = local
        check("the local path ran every job", done.returncode == 0, "" if done.returncode == 0 else local.get("failures") or done.stderr[-2000:])
        phase("local path done")

        # -- what must hold ----------------------------------------------------------------------------
        # Purchase paths need a purchase: the generator Lambda's short stream may hold none (then both
        # paths must agree on an empty mart); every other mart must have rows.
        purchases = sum(json.loads(line).get("event_type") == "purchase" for line in clicks_file.read_bytes().splitlines() if _is_json_object(line))
        compare_marts(pg, workdir / "local", check, may_be_empty=set() if purchases else {"purchase_paths_daily"})
        check("no reconciliation or data check failed on AWS", not aws.get("failed_checks"), aws.get("failed_checks"))
        expected = aws.get("expected_failure", "")
        check("a Glue job that fails exits non-zero (FAILED run) and Pipes still says why", "FAILED" in expected and "no raw transactions file" in expected, expected)
        check("Athena result reuse is requested and honoured", aws.get("athena_reuse") == [False, True], aws.get("athena_reuse"))
        glue_runs = json.loads(urllib.request.urlopen(f"{endpoint}/rehearsal/glue").read())
        check("every Glue run ran its script from the code zip on Spark", all(r["state"] in ("SUCCEEDED", "FAILED") for r in glue_runs)
              and sum(r["state"] == "SUCCEEDED" for r in glue_runs) >= 5, [(r["job_name"], r["state"]) for r in glue_runs])  # fmt: skip
        qs = json.loads(urllib.request.urlopen(f"{endpoint}/rehearsal/quicksight").read())
        report["quicksight"] = qs
        alarmed = sorted(stack.resolve(d["Value"]) for a in stack.of_type("AWS::CloudWatch::Alarm").values()
                         for d in a["Properties"].get("Dimensions", []) if d["Name"] == "DatasetId")  # fmt: skip
        check("QuickSight has one data set per mart, the ids the stack's SPICE alarms watch", qs["data_sets"] == alarmed, qs["data_sets"])
        with __import__("psycopg").connect(pg.url()) as con:
            counts = {m.table: con.execute(f"SELECT count(*) FROM {m.table}").fetchone()[0] for m in __import__("clickpipe_core.marts", fromlist=["MARTS"]).MARTS.values()}
        last = {}
        for ing in qs["ingestions"]:
            last[ing["Arn"].split("/")[1]] = ing
        ok = all(i["IngestionStatus"] == "COMPLETED" for i in last.values()) and len(last) == len(counts)
        check("every SPICE ingestion read its mart over TLS", ok, {k: (v["IngestionStatus"], (v.get("RowInfo") or v.get("ErrorInfo"))) for k, v in last.items()})
        check("the dashboard is published", any(v == "CREATION_SUCCESSFUL" or v == "UPDATE_SUCCESSFUL" for d in qs["dashboards"].values() for v in d["versions"]),
              qs["dashboards"])  # fmt: skip
        pages = [s.name for s in __import__("clickpipe_dagster.dashboard.definition", fromlist=["SHEETS"]).SHEETS]
        check("the published dashboard has every page as a sheet, each field found in its data set with its type",
              [d["sheets"] for d in qs["dashboards"].values()] == [pages] and not any(d["errors"] for d in qs["dashboards"].values()),
              {k: (d["sheets"], d["errors"]) for k, d in qs["dashboards"].items()})  # fmt: skip
        report["mart_rows"] = counts
        probes = deny_probes(stack, client, role_creds, outputs)
        audit = json.loads(urllib.request.urlopen(f"{endpoint}/rehearsal/audit").read())
        report["roles"] = roles_used(audit)
        denied = [a for a in audit if not a["allowed"]]
        check("IAM refuses what a role may not do", all(probes.values()), probes)
        check("no pipeline call was refused (every call allowed by its own role's policy)", len(denied) == len(probes),
              [f"{d['role']} {d['action']} {d['resources']} {d['context'] or ''}" for d in denied][:20])  # fmt: skip
        check("every component called AWS under its own role", {dagster_role, generator_role, source_role, dest_role,
              stack.role_name("ProcessingJob1Role"), stack.role_name("ProcessingJob2Role")} <= set(report["roles"]), sorted(report["roles"]))  # fmt: skip
        phase("checks done")
    finally:
        if firehose is not None:
            firehose.stop()
        emulator.terminate()
        try:
            emulator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            emulator.kill()
        report["emulator_log"] = str(state / "emulator.log")
        pg.stop()
    report["ok"] = all(c["ok"] for c in report["checks"].values())
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return report


def roles_used(audit: list[dict]) -> dict[str, list[str]]:
    out: dict[str, set] = {}
    for a in audit:
        if a["allowed"]:
            out.setdefault(a["role"], set()).add(a["action"].split(":")[0])
    return {k: sorted(v) for k, v in out.items()}


def deny_probes(stack: Stack, client, role_creds, outputs: dict) -> dict[str, bool]:
    """Calls each role must be refused; True when refused."""
    from botocore.exceptions import ClientError

    def refused(fn) -> bool:
        try:
            fn()
        except ClientError as e:
            return e.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
        return False

    lake = outputs[output_key("CLICKPIPE_LAKE_BUCKET")]
    database = outputs[output_key("CLICKPIPE_GLUE_DATABASE")]
    dagster = role_creds(stack.role_name("OrchestrationDagsterRole"))
    job1 = role_creds(stack.role_name("ProcessingJob1Role"))
    job2 = role_creds(stack.role_name("ProcessingJob2Role"))
    return {
        "Dagster may not write a Glue table (the stack owns them)": refused(lambda: client("glue", dagster).create_table(
            DatabaseName=database, TableInput={"Name": "intruder", "StorageDescriptor": {"Columns": []}})),
        "Job 1 may not write the raw zone": refused(lambda: client("s3", job1).put_object(Bucket=lake, Key="raw/users/x.csv", Body=b"x")),
        "Job 2 may not list the raw zone (s3:prefix)": refused(lambda: client("s3", job2).list_objects_v2(Bucket=lake, Prefix="raw/")),
    }  # fmt: skip


def _is_json_object(line: bytes) -> bool:
    """A delivered record that is a JSON object (the stream also carries malformed lines on purpose)."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def compare_marts(pg: TlsPostgres, local_home: Path, check, may_be_empty: frozenset[str] | set[str] = frozenset()) -> None:
    """Every mart, row by row: the AWS path's PostgreSQL against the local path's; each has rows, but
    those in ``may_be_empty`` (whose inputs hold nothing for them)."""
    import psycopg

    from clickpipe_core.marts import MARTS
    from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

    local = LocalWarehouseResource(pg_dir=str(local_home / "pg"))
    try:
        with psycopg.connect(pg.url()) as aws_con, psycopg.connect(local.url()) as local_con:
            for mart in MARTS.values():
                cols = ", ".join(c.name for c in mart.columns)
                sql = f"SELECT {cols} FROM {mart.table} ORDER BY {cols}"
                try:
                    a = aws_con.execute(sql).fetchall()
                    b = local_con.execute(sql).fetchall()
                except psycopg.Error as e:
                    aws_con.rollback(), local_con.rollback()
                    check(f"mart {mart.table}: the same rows on AWS and locally", False, str(e).strip())
                    continue
                diff = [r for r in a if r not in set(b)][:3] + [r for r in b if r not in set(a)][:3]
                empty_ok = mart.name in may_be_empty
                check(f"mart {mart.table}: the same rows on AWS and locally", a == b and (len(a) > 0 or empty_ok),
                      f"{len(a)} rows" + (" (its inputs hold none)" if empty_ok and not a else "") + (f"; differ: {diff}" if diff else ""))  # fmt: skip
    finally:
        local.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cdk-out", default=str(REPO / "infra" / "cdk" / "cdk.out.rehearsal"))
    p.add_argument("--workdir", default=None)
    p.add_argument("--invocations", type=int, default=3)
    args = p.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="clickpipe-rehearsal-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = rehearse(Path(args.cdk_out), workdir, invocations=args.invocations)
    (workdir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"[rehearsal] {'PASSED' if report['ok'] else 'FAILED'} in {report['wall_seconds']} s; report: {workdir / 'report.json'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
