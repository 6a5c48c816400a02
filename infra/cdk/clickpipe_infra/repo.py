"""Where the project's own code lives, and the bundles the AWS side ships from it.

The CDK app builds the Glue tables from ``clickpipe_dagster.catalog`` (one source of truth), so the
repository root goes on ``sys.path``. ``catalog`` imports only ``clickpipe_dagster.contracts`` and the
package ``__init__`` is empty: no Dagster or boto3 is needed in the CDK venv.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from clickpipe_dagster import catalog, contracts  # noqa: E402

__all__ = [
    "REPO_ROOT",
    "catalog",
    "contracts",
    "GLUE_SCRIPTS_DIR",
    "JOB1_SCRIPT",
    "JOB2_SCRIPT",
    "glue_code_files",
    "write_glue_code_zip",
    "LAMBDA_HANDLER",
    "LAMBDA_BUNDLE_EXCLUDES",
]

GLUE_SCRIPTS_DIR = "glue_scripts"
JOB1_SCRIPT = f"{GLUE_SCRIPTS_DIR}/raw_to_processed.py"
JOB2_SCRIPT = f"{GLUE_SCRIPTS_DIR}/processed_to_rds.py"

# The package modules a Glue job imports besides glue_scripts/ (pure Python, no Dagster).
_GLUE_PACKAGE_FILES = (
    "clickpipe_dagster/__init__.py",
    "clickpipe_dagster/contracts.py",
    "clickpipe_dagster/catalog.py",
)

# A fixed timestamp makes the zip byte-identical for identical sources, so the asset hash (and the
# deployed object) changes only when the code does.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def glue_code_files(repo_root: Path = REPO_ROOT) -> list[str]:
    """Repository-relative paths that go into the Glue ``--extra-py-files`` zip, sorted: the modules
    and the SQL files Job 2 reads as package resources (marts, migrations)."""
    scripts = sorted(p.relative_to(repo_root).as_posix() for p in (repo_root / GLUE_SCRIPTS_DIR).glob("*.py"))
    sql = sorted(p.relative_to(repo_root).as_posix() for p in (repo_root / GLUE_SCRIPTS_DIR / "sql").rglob("*.sql"))
    files = list(_GLUE_PACKAGE_FILES) + scripts + sql
    missing = [f for f in files if not (repo_root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"Glue code bundle: missing {', '.join(missing)} under {repo_root}")
    return files


def write_glue_code_zip(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write ``clickpipe_glue_code.zip`` (package modules + glue_scripts/*.py) into out_dir, deterministically."""
    out = Path(out_dir) / "clickpipe_glue_code.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in glue_code_files(repo_root):
            info = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (repo_root / rel).read_bytes())
    return out


# The click generator Lambda: its handler and the files of its bundle (Code.from_asset on the repo
# root with these glob excludes; later patterns win, "!" re-includes).
LAMBDA_HANDLER = "clickpipe_dagster.generator.lambda_handler.handler"
LAMBDA_BUNDLE_EXCLUDES = [
    "*",
    ".*",
    "!clickpipe_dagster",
    "clickpipe_dagster/*",
    "!clickpipe_dagster/__init__.py",
    "!clickpipe_dagster/contracts.py",
    "!clickpipe_dagster/generator",
    "!clickpipe_dagster/generator/**",
    "**/__pycache__",
    "**/*.pyc",
]
LAMBDA_BUNDLE_TOP = ("clickpipe_dagster/__init__.py", "clickpipe_dagster/contracts.py", "clickpipe_dagster/generator/")


# Glue Job 2 runs on a VPC connection in subnets without an internet route, so it cannot pip-install
# from a package index; its pure-Python dependencies travel in a second zip, copied at synth time from
# this (CDK) venv, which pins the same versions (requirements.txt).
VENDORED_FOR_VPC_JOBS = ("dagster_pipes",)


def write_vendor_zip(out_dir: Path, packages: tuple[str, ...] = VENDORED_FOR_VPC_JOBS) -> Path:
    """Write ``clickpipe_glue_vendor.zip`` with the given installed pure-Python packages, deterministically."""
    import importlib

    out = Path(out_dir) / "clickpipe_glue_vendor.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in packages:
            pkg_dir = Path(importlib.import_module(name).__file__).parent
            for path in sorted(pkg_dir.rglob("*")):
                if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".so", ".pyd"):
                    continue
                info = zipfile.ZipInfo(f"{name}/{path.relative_to(pkg_dir).as_posix()}", date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
    return out


# Glue Job 2's binary dependencies (the PostgreSQL loader: ADBC, psycopg; pyarrow at our pin) cannot
# be pip-installed from an index in the isolated subnets either, nor imported from a zip. `make
# wheelhouse` downloads their wheels for Glue 5.0 (CPython 3.11, manylinux x86_64) at the versions
# pyproject.toml pins into infra/cdk/wheelhouse/; the stack uploads each one and Glue installs them
# from S3 with pip --no-index. Without a wheelhouse the stack still synthesizes, with a warning.
JOB2_WHEEL_PACKAGES = ("psycopg", "adbc-driver-postgresql", "adbc-driver-manager", "pyarrow")
WHEELHOUSE_DIR = "infra/cdk/wheelhouse"
GLUE_WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


def pinned_requirements(packages: tuple[str, ...] = JOB2_WHEEL_PACKAGES, repo_root: Path = REPO_ROOT) -> list[str]:
    """The project's own pins (pyproject.toml) for ``packages``, extras included: one source of versions."""
    import re
    import tomllib

    deps = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["dependencies"]
    by_name = {re.split(r"[\[=<>~! ]", d, maxsplit=1)[0].lower(): d for d in deps}
    missing = [p for p in packages if p not in by_name]
    if missing:
        raise KeyError(f"pyproject.toml does not pin {', '.join(missing)}")
    return [by_name[p] for p in packages]


def job2_wheels(repo_root: Path = REPO_ROOT) -> list[Path]:
    """The wheels in the wheelhouse, sorted (empty when `make wheelhouse` has not run)."""
    return sorted((repo_root / WHEELHOUSE_DIR).glob("*.whl"))
