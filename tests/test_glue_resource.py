"""The AWS Glue resource's Pipes plumbing against the S3 emulator: where the run context lands."""

from __future__ import annotations

import json
import re

import pytest

from clickpipe_dagster.resources.glue import AwsGlueJobsResource


@pytest.mark.parametrize("prefix", ["dagster-pipes/", "dagster-pipes"])
def test_pipes_context_lands_under_the_prefix_the_job_roles_may_read(s3_bucket, moto_endpoint, prefix):
    """PipesS3ContextInjector appends 30 letters to the prefix with no separator; the job roles may
    read ``dagster-pipes/*`` only, so the key must continue after a '/'."""
    client, bucket = s3_bucket
    resource = AwsGlueJobsResource(
        job_names={}, pipes_bucket=bucket, pipes_prefix=prefix, region_name="us-east-1", endpoint_url=moto_endpoint
    )
    injector = resource.context_injector()
    with injector.inject_context({"run_id": "r1"}) as params:
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert len(keys) == 1 and re.fullmatch(r"dagster-pipes/[a-zA-Z]{30}/context\.json", keys[0]), keys
        assert params["key"] == keys[0]
        assert json.loads(client.get_object(Bucket=bucket, Key=keys[0])["Body"].read()) == {"run_id": "r1"}
    assert not client.list_objects_v2(Bucket=bucket).get("Contents")  # removed after the run
