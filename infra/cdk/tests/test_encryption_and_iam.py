"""Encryption everywhere with the data key, and IAM without wildcard actions."""

from __future__ import annotations

import re


def _key(s):
    return {"Fn::GetAtt": [s.logical_id(s.stack.data_key.key), "Arn"]}


def test_the_data_key_rotates_and_is_retained(default):
    lid, key = default.one("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_stream_firehose_logs_topic_rds_glue_athena_all_use_the_data_key(default):
    key = _key(default)
    _, stream = default.one("AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": key}
    _, fh = default.one("AWS::KinesisFirehose::DeliveryStream")
    assert fh["Properties"]["ExtendedS3DestinationConfiguration"]["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": key}}
    for lid, lg in default.resources("AWS::Logs::LogGroup").items():
        assert lg["Properties"]["KmsKeyId"] == key, lid
        assert "RetentionInDays" in lg["Properties"], lid
    _, topic = default.one("AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"] == key
    _, db = default.one("AWS::RDS::DBInstance")
    p = db["Properties"]
    assert p["StorageEncrypted"] is True and p["KmsKeyId"] == key
    assert p["PerformanceInsightsKMSKeyId"] == key
    assert p["ManageMasterUserPassword"] is True and p["MasterUserSecret"] == {"KmsKeyId": key}
    _, sc = default.one("AWS::Glue::SecurityConfiguration")
    enc = sc["Properties"]["EncryptionConfiguration"]
    assert enc["S3Encryptions"] == [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key}]
    assert enc["CloudWatchEncryption"] == {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": key}
    assert enc["JobBookmarksEncryption"] == {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": key}
    _, wg = default.one("AWS::Athena::WorkGroup")
    enc = wg["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"]["EncryptionConfiguration"]
    assert enc == {"EncryptionOption": "SSE_KMS", "KmsKey": key}


def test_sns_topic_accepts_only_tls(default):
    _, policy = default.one("AWS::SNS::TopicPolicy")
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _identity_statements(s):
    """Every statement of every identity policy (roles' inline policies, AWS::IAM::Policy, managed)."""
    out = []
    for lid, p in s.resources("AWS::IAM::Policy").items():
        out += [(lid, st) for st in p["Properties"]["PolicyDocument"]["Statement"]]
    for lid, p in s.resources("AWS::IAM::ManagedPolicy").items():
        out += [(lid, st) for st in p["Properties"]["PolicyDocument"]["Statement"]]
    for lid, r in s.resources("AWS::IAM::Role").items():
        for pol in r["Properties"].get("Policies", []):
            out += [(lid, st) for st in pol["PolicyDocument"]["Statement"]]
    return out


def _as_list(v):
    return v if isinstance(v, list) else [v]


# Actions that support no resource-level permissions; only these may name Resource "*".
RESOURCELESS = {
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    "ecs:DescribeTaskDefinition",  # EcsRunLauncher
    "ecr:GetAuthorizationToken",  # ECS pulling Dagster's image
    "ssmmessages:CreateControlChannel",  # ECS Exec: the way to Dagster's UI
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def test_no_identity_policy_uses_a_wildcard_action(default, variant):
    for s in (default, variant):
        statements = _identity_statements(s)
        assert len(statements) > 10
        for lid, st in statements:
            for action in _as_list(st["Action"]):
                assert "*" not in action, (lid, action)


def test_resource_star_only_for_actions_without_resource_level_permissions(default, variant):
    for s in (default, variant):
        for lid, st in _identity_statements(s):
            if "*" in _as_list(st["Resource"]):
                assert set(_as_list(st["Action"])) <= RESOURCELESS, (lid, st)


def test_no_aws_managed_policies_are_attached(default, variant):
    for s in (default, variant):
        for lid, r in s.resources("AWS::IAM::Role").items():
            assert not r["Properties"].get("ManagedPolicyArns"), lid


def test_generator_role_can_only_put_records_on_the_stream(default):
    st = default.stack.streaming
    role = default.logical_id(st.generator.role)
    statements = [s for lid, pol in default.resources("AWS::IAM::Policy").items() if {"Ref": role} in pol["Properties"]["Roles"] for s in pol["Properties"]["PolicyDocument"]["Statement"]]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"PutClicks", "EncryptForTheStream", "WriteOwnLogs"}
    assert by_sid["PutClicks"]["Action"] == "kinesis:PutRecords"
    assert by_sid["PutClicks"]["Resource"] == {"Fn::GetAtt": [default.logical_id(st.stream), "Arn"]}
    assert by_sid["EncryptForTheStream"]["Action"] == "kms:GenerateDataKey"


def test_glue_job1_writes_only_processed_quarantine_and_its_staging(default):
    role = default.logical_id(default.stack.processing.job1_role)
    statements = [s for pol in default.resources("AWS::IAM::Policy").values() if {"Ref": role} in pol["Properties"]["Roles"] for s in pol["Properties"]["PolicyDocument"]["Statement"]]
    publish = next(s for s in statements if s["Sid"] == "PublishLakeZones")
    text = str(publish["Resource"])
    assert "/processed/*" in text and "/quarantine/*" in text and "/raw/" not in text
    # Spark on Glue stages under _tmp/<run>/ in the lake before publishing (reads it back, deletes it)
    assert "/_tmp/*" in text and "/_tmp/*" in str(next(s for s in statements if s["Sid"] == "ReadLakeZones")["Resource"])
    assert set(publish["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    # It reads code objects by exact key from the asset bucket, not the whole bucket.
    code = next(s for s in statements if s["Sid"] == "JobCode")
    for res in _as_list(code["Resource"]):
        assert re.search(r"/[0-9a-f]{64}\.(py|zip)", str(res)), res


def test_glue_job2_writes_only_the_processed_sessions_table(default):
    role = default.logical_id(default.stack.processing.job2_role)
    statements = [s for pol in default.resources("AWS::IAM::Policy").values() if {"Ref": role} in pol["Properties"]["Roles"] for s in pol["Properties"]["PolicyDocument"]["Statement"]]
    publish = next(s for s in statements if s["Sid"] == "PublishLakeZones")
    text = str(publish["Resource"])
    assert "/processed/sessions/*" in text and "/processed/*" not in text and "/quarantine/" not in text
