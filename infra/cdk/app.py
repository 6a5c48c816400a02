#!/usr/bin/env python3
"""clickpipe's CDK app. Offline synth: ``make synth`` (or ``.venv/bin/python app.py`` here); deploy: DEPLOY.md.

cdk-nag's AwsSolutions pack runs at synth: an unacknowledged finding fails it.
``--outdir DIR`` and ``-c key=value`` (deploy-time settings, as the cdk CLI takes them) are for
synthesizing a variant by hand, e.g. the rehearsal's (``make aws-rehearsal``).
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

from clickpipe_infra.app import build_app  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="synthesize the clickpipe stack")
    parser.add_argument("--outdir", default=None)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    context = dict(item.split("=", 1) for item in args.context)
    # Under the cdk CLI, CDK_OUTDIR says where; by hand, infra/cdk/cdk.out like the CLI.
    app, _ = build_app(outdir=args.outdir or os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out"), context=context)
    app.synth()
