"""S3: encryption, public access, TLS-only policies, versioning, access logging, lifecycle rules."""

from __future__ import annotations


def _bucket_ids(s):
    st = s.stack.storage
    return {name: s.logical_id(b) for name, b in [("lake", st.lake), ("athena", st.athena_results), ("pipes", st.pipes), ("logs", st.access_logs)]}


def _rules(bucket: dict) -> dict[str, dict]:
    return {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_there_are_exactly_the_four_buckets(default):
    assert set(default.resources("AWS::S3::Bucket")) == set(_bucket_ids(default).values())


def test_every_bucket_blocks_all_public_access(default):
    for lid, b in default.resources("AWS::S3::Bucket").items():
        assert b["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, lid


def test_data_buckets_use_sse_kms_with_the_data_key_and_the_log_bucket_sse_s3(default):
    key_id = default.logical_id(default.stack.data_key.key)
    ids = _bucket_ids(default)
    for name, lid in ids.items():
        rule = default.json["Resources"][lid]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        sse = rule["ServerSideEncryptionByDefault"]
        if name == "logs":  # S3 server access logging cannot deliver into an SSE-KMS bucket
            assert sse == {"SSEAlgorithm": "AES256"}
        else:
            assert sse["SSEAlgorithm"] == "aws:kms", name
            assert sse["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}, name
            assert rule["BucketKeyEnabled"] is True


def test_every_bucket_policy_denies_requests_without_tls(default):
    policies = {p["Properties"]["Bucket"]["Ref"]: p for p in default.resources("AWS::S3::BucketPolicy").values()}
    assert set(policies) == set(default.resources("AWS::S3::Bucket"))
    for lid, policy in policies.items():
        denies = [
            st
            for st in policy["Properties"]["PolicyDocument"]["Statement"]
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(denies) == 1, lid
        assert denies[0]["Action"] == "s3:*" and denies[0]["Principal"] == {"AWS": "*"}
        resources = denies[0]["Resource"]
        assert {"Fn::GetAtt": [lid, "Arn"]} in resources  # the bucket and ...
        assert any("Fn::Join" in r for r in resources)  # ... its objects


def test_every_bucket_is_versioned_and_data_buckets_log_access(default):
    ids = _bucket_ids(default)
    for name, lid in ids.items():
        props = default.json["Resources"][lid]["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        if name != "logs":
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": ids["logs"]}, name


def test_every_bucket_aborts_incomplete_multipart_uploads(default):
    for lid, b in default.resources("AWS::S3::Bucket").items():
        rule = _rules(b)["abort-incomplete-multipart-uploads"]
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}, lid
        assert rule["Status"] == "Enabled"


def test_raw_zone_moves_to_infrequent_access_then_glacier(default):
    s = default.stack.settings
    rules = _rules(default.json["Resources"][_bucket_ids(default)["lake"]])
    raw = rules["raw-to-infrequent-access-then-glacier"]
    assert raw["Prefix"] == "raw/"
    assert raw["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": s.raw_ia_days},
        {"StorageClass": "GLACIER", "TransitionInDays": s.raw_glacier_days},
    ]
    assert "ExpirationInDays" not in raw  # raw data is the source of truth: never expired


def test_quarantine_and_athena_results_and_pipes_expire(default):
    s = default.stack.settings
    ids = _bucket_ids(default)
    lake = _rules(default.json["Resources"][ids["lake"]])
    assert lake["expire-quarantine"]["Prefix"] == "quarantine/"
    assert lake["expire-quarantine"]["ExpirationInDays"] == s.quarantine_expire_days
    athena = _rules(default.json["Resources"][ids["athena"]])
    assert athena["expire-athena-results"]["ExpirationInDays"] == s.athena_results_expire_days
    assert "Prefix" not in athena["expire-athena-results"]
    pipes = _rules(default.json["Resources"][ids["pipes"]])
    assert pipes["expire-pipes-context-and-messages"]["ExpirationInDays"] == s.pipes_expire_days
    assert pipes["expire-pipes-context-and-messages"]["Prefix"] == "dagster-pipes/"
    assert pipes["expire-glue-temp"]["Prefix"] == "glue-temp/"
    # Glue Job 2's wheels stay (only replaced versions go): a job must not lose them after N days.
    assert "ExpirationInDays" not in pipes["expire-replaced-glue-packages"]
    assert pipes["expire-replaced-glue-packages"]["Prefix"] == "glue-packages/"


def test_processed_zone_never_expires(default):
    lake = _rules(default.json["Resources"][_bucket_ids(default)["lake"]])
    for rule in lake.values():
        if "ExpirationInDays" in rule:
            assert rule.get("Prefix") in ("quarantine/", "errors/firehose/clicks/", "_tmp/"), rule


def test_lifecycle_prefixes_follow_the_lake_prefix(variant):
    lake = _rules(variant.json["Resources"][_bucket_ids(variant)["lake"]])
    assert lake["raw-to-infrequent-access-then-glacier"]["Prefix"] == "lake/raw/"
    assert lake["expire-quarantine"]["Prefix"] == "lake/quarantine/"
