"""Build the CDK app: the same construction for ``python app.py``, the cdk CLI and the tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402

from clickpipe_infra.nag import add_nag  # noqa: E402
from clickpipe_infra.repo import REPO_ROOT  # noqa: E402
from clickpipe_infra.stack import ClickpipeStack  # noqa: E402

CDK_DIR = Path(__file__).resolve().parents[1]
STACK_NAME = "Clickpipe"


def cdk_json_context() -> dict:
    """The context in cdk.json (feature flags, settings). The cdk CLI passes it on its own; ``python
    app.py`` does not, so the app reads it as defaults and synthesizes the same template either way."""
    return json.loads((CDK_DIR / "cdk.json").read_text())["context"]


def build_app(
    *, outdir: str | None = None, context: dict | None = None, nag: bool = True, repo_root: Path = REPO_ROOT
) -> tuple[cdk.App, ClickpipeStack]:
    app = cdk.App(outdir=outdir, context={**cdk_json_context(), **(context or {})})
    stack = ClickpipeStack(
        app,
        app.node.try_get_context("stack_name") or STACK_NAME,
        repo_root=repo_root,
        description="clickpipe: lake, click stream, Glue jobs, Athena, RDS, QuickSight VPC connection, alarms",
        # Environment-agnostic on purpose: the template deployed is the one synthesized and tested
        # offline (no AZ lookups); the account and region come from the deploying credentials.
    )
    cdk.Tags.of(app).add("project", "clickpipe")
    if nag:
        add_nag(app)
    return app, stack
