"""The rehearsal's tests read the stack synthesized for it (``make aws-rehearsal`` does that first)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CDK_OUT = REPO / "infra" / "cdk" / "cdk.out.rehearsal"


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    if not (CDK_OUT / "Clickpipe.template.json").is_file():
        pytest.fail(f"no rehearsal synth at {CDK_OUT}: run `make aws-rehearsal` (it synthesizes the stack first)")
    return CDK_OUT


@pytest.fixture(scope="session")
def stack(cdk_out):
    from rehearsal.template import Stack

    s = Stack(cdk_out)
    db = s.one("AWS::RDS::DBInstance")[0]
    s.overrides.update({(db, "Endpoint.Address"): "127.0.0.1", (db, "Endpoint.Port"): "5432",
                        (db, "MasterUserSecret.SecretArn"): "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-AbCdEf"})  # fmt: skip
    return s
