"""Stack outputs <-> environment variables, and outputs_to_env.py on a real outputs file shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import outputs_to_env
from outputs_to_env import ENV_VARS, OutputsError, env_lines, output_key, select_stack

SCRIPT = Path(outputs_to_env.__file__)


def test_output_key_is_the_variable_in_camel_case():
    assert output_key("CLICKPIPE_LAKE_BUCKET") == "ClickpipeLakeBucket"
    assert output_key("AWS_REGION") == "AwsRegion"
    assert output_key("CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN") == "ClickpipeQuicksightVpcConnectionArn"
    assert len({output_key(v) for v in ENV_VARS}) == len(ENV_VARS)


def test_default_stack_outputs_every_required_variable(default):
    outputs = default.json["Outputs"]
    for var, required in ENV_VARS.items():
        if required:
            assert output_key(var) in outputs, var
            assert outputs[output_key(var)]["Description"].startswith(var)
    assert outputs["ClickpipeQuicksightVpcConnectionArn"]["Value"] == {
        "Fn::GetAtt": [default.logical_id(default.stack.visualization.vpc_connection), "Arn"]
    }
    assert "ClickpipeLakePrefix" not in outputs  # no prefix by default
    assert outputs["ClickpipeLakeBucket"]["Value"] == {"Ref": default.logical_id(default.stack.storage.lake)}
    assert outputs["ClickpipePipesBucket"]["Value"] == {"Ref": default.logical_id(default.stack.storage.pipes)}
    assert outputs["ClickpipeGlueJob1"]["Value"] == {"Ref": default.logical_id(default.stack.processing.job1)}
    assert outputs["ClickpipeGlueDatabase"]["Value"] == "clickpipe"
    assert outputs["AwsRegion"]["Value"] == {"Ref": "AWS::Region"}
    assert set(outputs) <= {output_key(v) for v in ENV_VARS}


def test_variant_outputs_job2_and_prefix_but_no_quicksight(variant):
    outputs = variant.json["Outputs"]
    assert outputs["ClickpipeGlueJob2"]["Value"] == {"Ref": variant.logical_id(variant.stack.processing.job2)}
    assert outputs["ClickpipeLakePrefix"]["Value"] == "lake"
    assert "ClickpipeQuicksightVpcConnectionArn" not in outputs


def _deployed(outputs_template: dict) -> dict:
    """What cdk deploy --outputs-file writes: {stack: {key: value}}, with made-up deployed values."""
    return {"Clickpipe": {k: f"value-of-{k}" for k in outputs_template}, "CDKToolkit": {"BucketName": "x"}}


def test_env_lines_from_the_synthesized_outputs(default):
    name, values = select_stack(_deployed(default.json["Outputs"]), None)
    assert name == "Clickpipe"
    lines = env_lines(values)
    assert lines[0] == "export CLICKPIPE_ENV=aws"
    exported = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    for var, required in ENV_VARS.items():
        if required:
            assert exported[var] == f"value-of-{output_key(var)}"


def test_values_are_shell_quoted_and_round_trip_through_bash(tmp_path):
    values = {output_key(v): f"v-{v}" for v in ENV_VARS}
    values["ClickpipeRdsHost"] = "db host with spaces'and\"quotes$HOME"
    out = tmp_path / "outputs.json"
    out.write_text(json.dumps({"Clickpipe": values}))
    env_file = tmp_path / ".env.aws"
    run = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, check=True)
    env_file.write_text(run.stdout)
    shown = subprocess.run(
        ["bash", "-c", f'set -e; . "{env_file}"; printf "%s\\n" "$CLICKPIPE_RDS_HOST" "$CLICKPIPE_ENV" "$CLICKPIPE_GLUE_JOB2"'],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert shown == [values["ClickpipeRdsHost"], "aws", "v-CLICKPIPE_GLUE_JOB2"]


def test_missing_required_output_is_an_error(tmp_path):
    values = {output_key(v): "x" for v, required in ENV_VARS.items() if required}
    del values["ClickpipeRdsSecretArn"]
    with pytest.raises(OutputsError, match="ClickpipeRdsSecretArn"):
        env_lines(values)
    out = tmp_path / "outputs.json"
    out.write_text(json.dumps({"Clickpipe": values}))
    run = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True)
    assert run.returncode == 2 and "CLICKPIPE_RDS_SECRET_ARN" in run.stderr and run.stdout == ""


def test_stack_selection():
    a = {output_key("CLICKPIPE_LAKE_BUCKET"): "a"}
    with pytest.raises(OutputsError, match="exactly one clickpipe stack"):
        select_stack({"One": a, "Two": a}, None)
    assert select_stack({"One": a, "Two": a}, "Two") == ("Two", a)
    with pytest.raises(OutputsError, match="not in the outputs file"):
        select_stack({"One": a}, "Nope")
    with pytest.raises(OutputsError, match="not a CDK outputs file"):
        select_stack({"One": "flat"}, None)
