"""Stand-in for Lambda invocations (moto's need Docker): the function's handler from its synthesized
asset, in a Python 3.11 interpreter that has the runtime's boto3 but not the project, with the
template's environment and the function role's credentials; the event is what the template's
EventBridge schedule sends."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

INVOKE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
module, name = sys.argv[2].rsplit(".", 1)
handler = getattr(importlib.import_module(module), name)
print(json.dumps(handler(json.loads(sys.argv[3]), None)))
"""


def invoke(*, python: Path, code_dir: Path, handler: str, environment: dict, credentials: dict, endpoint: str, region: str,
           event: dict) -> dict:  # fmt: skip
    env = {
        **environment,
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": credentials["aws_session_token"], "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint, "LAMBDA_TASK_ROOT": str(code_dir),
    }  # fmt: skip
    done = subprocess.run([str(python), "-c", INVOKE, str(code_dir), handler, json.dumps(event)], env=env, cwd=code_dir,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"Lambda {handler} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
