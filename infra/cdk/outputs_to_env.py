#!/usr/bin/env python3
"""Turn ``cdk deploy --outputs-file outputs.json`` into ``export VAR=value`` lines for CLICKPIPE_ENV=aws.

    python infra/cdk/outputs_to_env.py outputs.json > .env.aws
    set -a; . ./.env.aws; set +a

The stack emits one CfnOutput per environment variable; its key is the variable in CamelCase
(CLICKPIPE_LAKE_BUCKET -> ClickpipeLakeBucket, AWS_REGION -> AwsRegion). Standard library only, so any
Python runs it. The CDK app imports ENV_VARS and output_key from here: one mapping for both sides.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

# Every variable the Dagster aws resources read, and whether a deploy must provide it.
ENV_VARS: dict[str, bool] = {
    "CLICKPIPE_LAKE_BUCKET": True,
    "CLICKPIPE_LAKE_PREFIX": False,  # only when the lake sits under a key prefix
    "CLICKPIPE_GLUE_JOB1": True,
    "CLICKPIPE_GLUE_JOB2": False,  # only once glue_scripts/processed_to_rds.py exists
    "CLICKPIPE_PIPES_BUCKET": True,
    "AWS_REGION": True,
    "CLICKPIPE_KINESIS_STREAM": True,
    "CLICKPIPE_ATHENA_WORKGROUP": True,
    "CLICKPIPE_GLUE_DATABASE": True,
    "CLICKPIPE_RDS_SECRET_ARN": True,
    "CLICKPIPE_RDS_HOST": True,
    "CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN": False,  # only when deployed with QuickSight (default)
}


def output_key(var: str) -> str:
    """CfnOutput key for an environment variable: CLICKPIPE_LAKE_BUCKET -> ClickpipeLakeBucket."""
    return "".join(part.capitalize() for part in var.split("_"))


class OutputsError(ValueError):
    pass


def select_stack(outputs: dict, stack: str | None) -> tuple[str, dict]:
    if not isinstance(outputs, dict) or not all(isinstance(v, dict) for v in outputs.values()):
        raise OutputsError("not a CDK outputs file: expected {stack name: {output key: value}}")
    if stack is not None:
        if stack not in outputs:
            raise OutputsError(f"stack {stack!r} not in the outputs file (found: {', '.join(sorted(outputs)) or 'none'})")
        return stack, outputs[stack]
    marker = output_key("CLICKPIPE_LAKE_BUCKET")
    candidates = [name for name, values in outputs.items() if marker in values]
    if len(candidates) != 1:
        found = ", ".join(sorted(candidates)) or "none"
        raise OutputsError(f"expected exactly one clickpipe stack in the outputs file, found {found}: pass --stack")
    return candidates[0], outputs[candidates[0]]


def env_lines(values: dict, *, include_env: bool = True) -> list[str]:
    missing = [var for var, required in ENV_VARS.items() if required and output_key(var) not in values]
    if missing:
        raise OutputsError("outputs lack " + ", ".join(f"{output_key(v)} ({v})" for v in missing))
    lines = ["export CLICKPIPE_ENV=aws"] if include_env else []
    for var in ENV_VARS:
        key = output_key(var)
        if key in values:
            lines.append(f"export {var}={shlex.quote(str(values[key]))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outputs_file", help="the file written by cdk deploy --outputs-file")
    p.add_argument("--stack", help="stack name, when the file holds more than one clickpipe stack")
    p.add_argument("--no-clickpipe-env", action="store_true", help="do not emit CLICKPIPE_ENV=aws")
    args = p.parse_args(argv)
    try:
        with open(args.outputs_file, encoding="utf-8") as f:
            outputs = json.load(f)
        name, values = select_stack(outputs, args.stack)
        lines = env_lines(values, include_env=not args.no_clickpipe_env)
    except (OSError, json.JSONDecodeError, OutputsError) as e:
        print(f"outputs_to_env: {e}", file=sys.stderr)
        return 2
    print(f"# clickpipe environment from stack {name} ({args.outputs_file})")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
