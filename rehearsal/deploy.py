"""CloudFormation's part: create the template's resources in the emulator, as the deployer.

Only what the pipeline touches at run time is created, each from its template properties: the
buckets (and the CDK asset bucket with every asset published as ``cdk deploy`` publishes it), the
click stream, the log groups, the IAM roles with their policies, the Glue database, tables and jobs,
and the Athena workgroup. The RDS instance is the TLS PostgreSQL of ``rehearsal.rds`` with its
master secret in Secrets Manager; the Firehose delivery stream and the Lambda function are run by
their stand-ins from the template. VPC, KMS, alarms, SNS and QuickSight's VPC connection are not
created: nothing in the emulator would use them (see README.md in this folder).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from rehearsal.emulator import moto_policy
from rehearsal.template import Stack


def _zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(path).as_posix())
    return buf.getvalue()


def bucket_deployments(stack: Stack, s3_as_role) -> list[str]:
    """CDK's BucketDeployment custom resource: unzip each source object into the destination prefix,
    as its handler does, with the handler's own role (``s3_as_role(role_name)`` gives its S3 client)."""
    copied = []
    for lid in stack.of_type("Custom::CDKBucketDeployment"):
        p = stack.props(lid)
        handler = stack.resources[stack.resources[lid]["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
        role = stack.resolve(handler["Properties"]["Role"]).rsplit("/", 1)[1]
        s3 = s3_as_role(role)
        for bucket, key in zip(p["SourceBucketNames"], p["SourceObjectKeys"]):
            with zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as zf:
                for name in zf.namelist():
                    target = p.get("DestinationBucketKeyPrefix", "") + name
                    s3.put_object(Bucket=p["DestinationBucketName"], Key=target, Body=zf.read(name))
                    copied.append(target)
    return copied


def deploy(stack: Stack, admin) -> dict:
    """Create the resources; ``admin(service)`` gives a deployer client. Returns what was made."""
    made: dict[str, list] = {"buckets": [], "assets": [], "roles": [], "tables": [], "jobs": [], "log_groups": []}
    s3 = admin("s3")
    for lid in stack.of_type("AWS::S3::Bucket"):
        s3.create_bucket(Bucket=stack.ref(lid))
        made["buckets"].append(stack.ref(lid))
    assets = stack.assets()
    for bucket in sorted({a.bucket for a in assets.values()}):
        s3.create_bucket(Bucket=bucket)
    for key, asset in assets.items():
        body = _zip_dir(asset.source) if asset.packaging == "zip" else asset.source.read_bytes()
        s3.put_object(Bucket=asset.bucket, Key=key, Body=body)
        made["assets"].append(key)

    kinesis = admin("kinesis")
    for lid in stack.of_type("AWS::Kinesis::Stream"):
        p = stack.props(lid)
        kinesis.create_stream(StreamName=stack.ref(lid), ShardCount=int(p.get("ShardCount") or 2))

    logs = admin("logs")
    for lid in stack.of_type("AWS::Logs::LogGroup"):
        logs.create_log_group(logGroupName=stack.ref(lid))
        made["log_groups"].append(stack.ref(lid))

    iam = admin("iam")
    deployer_arn = admin("sts").get_caller_identity()["Arn"]
    for role, statements in stack.role_statements().items():
        lid = next(k for k in stack.of_type("AWS::IAM::Role") if stack.ref(k) == role)
        trust = stack.props(lid)["AssumeRolePolicyDocument"]
        # The stand-ins act as the services the trust policy names (Glue, Lambda, Firehose, ECS): they
        # assume the role through the deployer, which the emulator's copy of the trust policy adds as a
        # principal beside the service (moto cannot read a statement whose only principal is a service).
        trust = {**trust, "Statement": [{**st, "Principal": {**st["Principal"], "AWS": deployer_arn}} for st in trust["Statement"]]}
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        if statements:
            iam.put_role_policy(RoleName=role, PolicyName="template", PolicyDocument=json.dumps(moto_policy(statements)))
        made["roles"].append(role)

    glue = admin("glue")
    for lid in stack.of_type("AWS::Glue::Database"):
        glue.create_database(DatabaseInput=stack.props(lid)["DatabaseInput"])
    for lid in stack.of_type("AWS::Glue::Table"):
        p = stack.props(lid)
        glue.create_table(DatabaseName=p["DatabaseName"], TableInput=p["TableInput"])
        made["tables"].append(p["TableInput"]["Name"])
    for lid in stack.of_type("AWS::Glue::Job"):
        p = stack.props(lid)
        glue.create_job(Name=p["Name"], Role=p["Role"], Command=p["Command"], DefaultArguments=p.get("DefaultArguments", {}),
                        GlueVersion=p.get("GlueVersion"), Timeout=int(p.get("Timeout", 2880)))  # fmt: skip
        made["jobs"].append(p["Name"])

    athena = admin("athena")
    workgroups = {}
    for lid in stack.of_type("AWS::Athena::WorkGroup"):
        p = stack.props(lid)
        config = p.get("WorkGroupConfiguration", {})
        athena.create_work_group(Name=p["Name"], Configuration={"ResultConfiguration": {"OutputLocation": config["ResultConfiguration"]["OutputLocation"]},
                                                               "EnforceWorkGroupConfiguration": bool(config.get("EnforceWorkGroupConfiguration"))})  # fmt: skip
        workgroups[p["Name"]] = config
    made["workgroups"] = workgroups
    return made
