#!/usr/bin/env python3
"""clickpipe's CDK app. Offline synth: ``make synth`` (or ``.venv/bin/python app.py`` here); deploy: DEPLOY.md.

cdk-nag's AwsSolutions pack runs at synth: an unacknowledged finding fails it.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

from clickpipe_infra.app import build_app  # noqa: E402

if __name__ == "__main__":
    # Under the cdk CLI, CDK_OUTDIR says where; by hand, infra/cdk/cdk.out like the CLI.
    app, _ = build_app(outdir=os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out"))
    app.synth()
