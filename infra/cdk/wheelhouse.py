"""Download Glue Job 2's wheels for Glue 5.0 into infra/cdk/wheelhouse/ (``make wheelhouse``).

Needs a package index (run it where ``pip download`` works, before ``cdk deploy``); the stack then
ships the wheels to S3 and Glue installs them with ``pip --no-index`` inside the VPC.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from clickpipe_infra.repo import GLUE_WHEEL_PLATFORMS, REPO_ROOT, WHEELHOUSE_DIR, job2_wheels, pinned_requirements


def main() -> int:
    target = REPO_ROOT / WHEELHOUSE_DIR
    shutil.rmtree(target, ignore_errors=True)
    platforms = [a for p in GLUE_WHEEL_PLATFORMS for a in ("--platform", p)]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", "3.11",
        "--implementation", "cp", *platforms, "--dest", str(target), *pinned_requirements(),
    ]  # fmt: skip
    done = subprocess.run(command)
    if done.returncode:
        print("wheelhouse: pip download failed (is a package index reachable?)", file=sys.stderr)
        return done.returncode
    for wheel in job2_wheels():
        print(f"{wheel.stat().st_size / 1e6:7.1f} MB  {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
