"""Fetch Glue Job 2's wheels for Glue 5.0 into infra/cdk/wheelhouse/ (``make wheelhouse``).

Synth does the same by itself when the wheelhouse is missing or stale; this refreshes it by hand.
Needs a package index; the stack then ships the wheels to S3 and Glue installs them with
``pip --no-index`` inside the VPC.
"""

from __future__ import annotations

import sys

from clickpipe_infra.repo import WheelhouseError, download_wheelhouse


def main() -> int:
    try:
        wheels = download_wheelhouse()
    except WheelhouseError as e:
        print(f"wheelhouse: {e}", file=sys.stderr)
        return 1
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 1e6:7.1f} MB  {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
