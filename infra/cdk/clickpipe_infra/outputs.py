"""One CfnOutput per environment variable of the Dagster aws resources (key = the variable in CamelCase)."""

from __future__ import annotations

import sys
from pathlib import Path

import aws_cdk as cdk
from constructs import Construct

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from outputs_to_env import ENV_VARS, output_key  # noqa: E402


def add_env_outputs(scope: Construct, values: dict[str, str]) -> dict[str, cdk.CfnOutput]:
    unknown = sorted(set(values) - set(ENV_VARS))
    if unknown:
        raise ValueError(f"not a clickpipe environment variable: {', '.join(unknown)}")
    missing = [v for v, required in ENV_VARS.items() if required and v not in values]
    if missing:
        raise ValueError(f"the stack must output {', '.join(missing)}")
    return {
        var: cdk.CfnOutput(scope, output_key(var), value=values[var], description=f"{var} for CLICKPIPE_ENV=aws")
        for var in ENV_VARS
        if var in values
    }
