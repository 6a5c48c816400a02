"""Shared, session-scoped synths: each App takes seconds (jsii + node), so tests share them.

Plain assertion tests use Apps WITHOUT the cdk-nag plugin (a finding would fail their synth); the nag
tests synthesize their own Apps with the plugin.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402
import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from clickpipe_infra.app import build_app  # noqa: E402
from clickpipe_infra.repo import JOB2_SCRIPT, REPO_ROOT, WHEELHOUSE_DIR  # noqa: E402

# A non-default deploy: Job 2 present, single-AZ, no QuickSight, lake under a prefix, provisioned stream.
VARIANT_CONTEXT = {"multi_az": "false", "quicksight": "false", "lake_prefix": "lake", "kinesis_shards": "2"}


def repo_with_job2(tmp: Path, wheels: bool = True) -> Path:
    """A copy of the repository's code with a stand-in Job 2 script (the real one may not exist yet)
    and, unless ``wheels=False``, a wheelhouse of stand-in wheels for every pin (as synth or `make
    wheelhouse` would leave it), so the tests synthesize without a package index."""
    root = tmp / "repo"
    for rel in ("clickpipe_core", "clickpipe_dagster", "glue_scripts"):
        shutil.copytree(REPO_ROOT / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("pyproject.toml", "README.md"):  # the package definition the bundles are built from
        shutil.copy2(REPO_ROOT / rel, root / rel)
    job2 = root / JOB2_SCRIPT
    if not job2.exists():
        job2.write_text('"""Stand-in for Glue Job 2 in the CDK tests."""\n')
    for i, name in enumerate(STAND_IN_WHEELS if wheels else ()):
        path = root / WHEELHOUSE_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stand-in wheel %d" % i)
    return root


STAND_IN_WHEELS = (
    "adbc_driver_manager-1.13.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    "adbc_driver_postgresql-1.13.0-py3-none-manylinux_2_28_x86_64.whl",
    "psycopg-3.3.9-py3-none-any.whl",
    "pyarrow-26.0.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    "duckdb-2.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "ua_parser-1.0.2-py3-none-any.whl",
    "ua_parser_builtins-202610-py3-none-any.whl",
    "ua_parser_rs-0.1.5-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
)


class Synth:
    def __init__(self, outdir: Path, **kwargs):
        self.outdir = outdir
        self.app, self.stack = build_app(outdir=str(outdir), **kwargs)
        self.template = Template.from_stack(self.stack)
        self.json = self.template.to_json()

    def resources(self, type_: str) -> dict[str, dict]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict]:
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct) -> str:
        element = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return self.stack.get_logical_id(element)


@pytest.fixture(scope="session")
def default(tmp_path_factory) -> Synth:
    return Synth(tmp_path_factory.mktemp("default"), nag=False)


@pytest.fixture(scope="session")
def variant_repo(tmp_path_factory) -> Path:
    return repo_with_job2(tmp_path_factory.mktemp("variant-repo"))


@pytest.fixture(scope="session")
def variant(tmp_path_factory, variant_repo) -> Synth:
    return Synth(tmp_path_factory.mktemp("variant"), nag=False, context=VARIANT_CONTEXT, repo_root=variant_repo)
