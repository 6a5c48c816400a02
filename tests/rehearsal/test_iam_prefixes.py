"""What moto does not check, checked against the synthesized template's policies: ``s3:prefix``
conditions on the list calls each component makes, and the Pipes context key the job roles read.

Each case is a request the code makes (the keys come from the project's own layout functions) and
the role that makes it; ``rehearsal.iam.evaluate`` applies the role's statements as IAM does.
"""

from __future__ import annotations

import pytest

from clickpipe_core import layout
from rehearsal.iam import evaluate

pytestmark = pytest.mark.rehearsal
DAY = "2026-11-02"


def _role(stack, prefix):
    return stack.role_statements()[stack.role_name(prefix)]


def _lake(stack) -> str:
    return stack.ref(stack.one_of_prefix("AWS::S3::Bucket", "StorageLake"))


def _list(stack, role: str, prefix: str):
    return evaluate(_role(stack, role), "s3:ListBucket", [f"arn:aws:s3:::{_lake(stack)}"], {"s3:prefix": prefix})


@pytest.mark.parametrize(
    "role,prefix",
    [
        ("ProcessingJob1Role", layout.raw_batch_key("users", DAY, "")),  # the raw files of a partition
        ("ProcessingJob1Role", "raw/clicks/2026/11/02/"),  # Firehose's hour folders
        ("ProcessingJob1Role", "processed/transactions/"),  # stale files of the same source
        ("ProcessingJob1Role", "_tmp/0a1b2c3d4e5f/processed/"),  # Spark's staging on Glue (first-deploy failure 3)
        ("ProcessingJob2Role", "processed/clicks/dt=2026-11-02/"),
        ("OrchestrationDagsterRole", "raw/transactions/"),  # the raw-files sensor
        ("OrchestrationDagsterRole", "processed/clicks/"),  # Athena reads the table location as the caller
    ],
)
def test_each_list_call_is_allowed_with_its_prefix(stack, role, prefix):
    decision = _list(stack, role, prefix)
    assert decision.allowed, decision.reason


@pytest.mark.parametrize(
    "role,prefix",
    [
        ("ProcessingJob2Role", "raw/"),  # Job 2 reads only the processed zone
        ("ProcessingJob1Role", "errors/firehose/clicks/"),
        ("OrchestrationDagsterRole", ""),  # the whole bucket
    ],
)
def test_list_calls_outside_a_roles_zones_are_refused(stack, role, prefix):
    assert not _list(stack, role, prefix).allowed


def test_a_list_without_a_prefix_is_refused(stack):
    """IAM evaluates a condition on a key the request lacks as false: listing with no prefix is refused."""
    assert not evaluate(_role(stack, "ProcessingJob1Role"), "s3:ListBucket", [f"arn:aws:s3:::{_lake(stack)}"]).allowed


def test_the_job_roles_read_the_pipes_context_only_under_the_prefix(stack):
    """First-deploy failure 2: PipesS3ContextInjector writes <prefix><30 letters>/context.json. With
    the prefix "dagster-pipes/" the key is readable; without the slash it never was."""
    pipes = stack.ref(stack.one_of_prefix("AWS::S3::Bucket", "StoragePipes"))
    for role in ("ProcessingJob1Role", "ProcessingJob2Role"):
        statements = _role(stack, role)
        good = evaluate(statements, "s3:GetObject", [f"arn:aws:s3:::{pipes}/dagster-pipes/AbCdEfGhIjKlMnOpQrStUvWxYzAbCd/context.json"])
        bad = evaluate(statements, "s3:GetObject", [f"arn:aws:s3:::{pipes}/dagster-pipesAbCdEfGhIjKlMnOpQrStUvWxYzAbCd/context.json"])
        assert good.allowed and not bad.allowed, (role, good.reason, bad.reason)
        # the job only reads its context; Dagster writes and deletes it
        assert not evaluate(statements, "s3:PutObject", [f"arn:aws:s3:::{pipes}/dagster-pipes/x/context.json"]).allowed
