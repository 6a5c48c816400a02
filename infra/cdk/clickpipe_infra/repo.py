"""Where the project's own code lives, and the bundles the AWS side ships from it.

The CDK app builds the Glue tables from ``clickpipe_core.catalog`` (one source of truth), so the
repository root goes on ``sys.path``. ``clickpipe_core`` imports neither Dagster nor boto3 at import
time, so the CDK venv needs neither.

The bundles are built from the package definition (``pyproject.toml``), never from file lists: the
project's wheel is built once per synth, and each bundle takes the whole top-level packages its
runtime needs from it (Glue: ``clickpipe_core`` and ``glue_scripts``; Lambda: ``clickpipe_core``).
A module or SQL file the package definition ships is in the bundle; one it does not ship is in
neither the wheel nor the bundle, and the isolated bundle tests fail on it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from clickpipe_core import catalog, contracts, marts  # noqa: E402
from clickpipe_core.lake_store import LocalStore  # noqa: E402

STAGING_DIR = LocalStore.TMP  # the lake's temporary area (Job 1 on Spark stages under it on Glue)

GLUE_SCRIPTS_DIR = "glue_scripts"
JOB1_SCRIPT = f"{GLUE_SCRIPTS_DIR}/raw_to_processed.py"
JOB2_SCRIPT = f"{GLUE_SCRIPTS_DIR}/processed_to_rds.py"

# The top-level packages each runtime imports (whole packages, as the wheel has them).
GLUE_PACKAGES = ("clickpipe_core", "glue_scripts")
LAMBDA_PACKAGES = ("clickpipe_core",)
LAMBDA_HANDLER = "clickpipe_core.generator.lambda_handler.handler"

# What setuptools reads to build the wheel: the package definition and the package directories.
_BUILD_INPUTS = ("pyproject.toml", "README.md", "clickpipe_core", "clickpipe_dagster", "glue_scripts")

# A fixed timestamp makes the zip byte-identical for identical sources, so the asset hash (and the
# deployed object) changes only when the code does.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@functools.lru_cache(maxsize=None)
def project_wheel(repo_root: Path = REPO_ROOT) -> Path:
    """The project's wheel, built by setuptools from ``pyproject.toml`` (once per process).

    Built from a copy of the build inputs, so the working tree gets no ``build/`` directory.
    """
    out = Path(tempfile.mkdtemp(prefix="clickpipe-wheel-"))
    src = out / "src"
    for name in _BUILD_INPUTS:
        path = Path(repo_root) / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif path.is_file():
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-q", "-w", str(out / "dist"), str(src)],
        capture_output=True, text=True,
    )  # fmt: skip
    wheels = sorted((out / "dist").glob("clickpipe-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the project wheel from {repo_root / 'pyproject.toml'} failed:\n{done.stderr or done.stdout}")
    return wheels[0]


def package_files(packages: tuple[str, ...], repo_root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Path in the wheel -> content, for every file of the given top-level packages, sorted."""
    with zipfile.ZipFile(project_wheel(Path(repo_root))) as wheel:
        names = sorted(n for n in wheel.namelist() if n.split("/", 1)[0] in packages and not n.endswith("/"))
        missing = [p for p in packages if not any(n.startswith(p + "/") for n in names)]
        if missing:
            raise FileNotFoundError(f"the project wheel has no package {', '.join(missing)}: see [tool.setuptools] in pyproject.toml")
        return {n: wheel.read(n) for n in names}


def _write_zip(out: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return out


def write_glue_code_zip(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write ``clickpipe_glue_code.zip`` (Glue's ``--extra-py-files``): the kernel and the job
    packages from the project wheel, deterministically."""
    return _write_zip(Path(out_dir) / "clickpipe_glue_code.zip", package_files(GLUE_PACKAGES, repo_root))


def write_lambda_bundle(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write the click generator Lambda's code directory (``Code.from_asset``): the kernel package
    from the project wheel (boto3 comes with the Lambda runtime)."""
    out = Path(out_dir) / "lambda"
    for name, data in package_files(LAMBDA_PACKAGES, repo_root).items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out


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
# be pip-installed from an index in the isolated subnets either, nor imported from a zip. Their wheels
# for Glue 5.0 (CPython 3.11, manylinux x86_64), at the versions pyproject.toml pins, with every
# dependency pip resolves for them, live in infra/cdk/wheelhouse/; the stack uploads each one and Glue
# installs them from S3 with pip --no-index. Synth fills the wheelhouse itself when it is missing or
# stale (`make wheelhouse` does the same by hand) and fails with a clear message when it cannot.
# DuckDB and ua-parser: the sessionized marts are built on DuckDB whatever the engine, with enrichment.
JOB2_WHEEL_PACKAGES = ("psycopg", "adbc-driver-postgresql", "adbc-driver-manager", "pyarrow", "duckdb", "ua-parser",
                       "ua-parser-builtins", "ua-parser-rs")  # fmt: skip
WHEELHOUSE_DIR = "infra/cdk/wheelhouse"
GLUE_WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


class WheelhouseError(RuntimeError):
    """Job 2's wheels are missing and could not be fetched: synth stops rather than ship a broken job."""


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
    """The wheels in the wheelhouse, sorted (empty when none was fetched yet)."""
    return sorted((repo_root / WHEELHOUSE_DIR).glob("*.whl"))


def missing_pins(wheels: list[Path], repo_root: Path = REPO_ROOT) -> list[str]:
    """The pinned requirements (``name==version``) no wheel of the wheelhouse provides."""
    import re

    have = {tuple(w.name.split("-")[:2]) for w in wheels}
    out = []
    for req in pinned_requirements(repo_root=repo_root):
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", req).groups()
        if (re.sub(r"[-_.]+", "_", name).lower(), version) not in {(re.sub(r"[-_.]+", "_", n).lower(), v) for n, v in have}:
            out.append(req)
    return out


def download_wheelhouse(repo_root: Path = REPO_ROOT, python: str = sys.executable) -> list[Path]:
    """``pip download`` the pinned wheels and their dependencies for Glue 5.0 into a fresh wheelhouse."""
    target = Path(repo_root) / WHEELHOUSE_DIR
    shutil.rmtree(target, ignore_errors=True)
    platforms = [a for p in GLUE_WHEEL_PLATFORMS for a in ("--platform", p)]
    command = [
        python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--only-binary=:all:",
        "--python-version", "3.11", "--implementation", "cp", *platforms, "--dest", str(target),
        *pinned_requirements(repo_root=repo_root),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = job2_wheels(repo_root)
    if done.returncode != 0 or missing_pins(wheels, repo_root):
        raise WheelhouseError(
            f"Glue Job 2 needs its PostgreSQL loader's wheels ({', '.join(pinned_requirements(repo_root=repo_root))}) for "
            f"Glue 5.0 in {target}, and fetching them failed (is a package index reachable?). Run `make wheelhouse` "
            f"where one is, or copy the wheels there, then synthesize again.\n{(done.stderr or done.stdout)[-2000:]}"
        )
    return wheels


def ensure_job2_wheelhouse(repo_root: Path = REPO_ROOT) -> list[Path]:
    """The wheelhouse's wheels, fetched first when any pinned requirement has no wheel there."""
    wheels = job2_wheels(repo_root)
    return wheels if wheels and not missing_pins(wheels, repo_root) else download_wheelhouse(repo_root)


# Dagster's image on ECS: the project wheel with its pinned dependencies, the webserver and
# dagster-postgres at the Dagster family's pins, and the instance configuration (run and event
# storage in PostgreSQL with TLS, the queued run coordinator, EcsRunLauncher).
DAGSTER_YAML = """\
storage:
  postgres:
    postgres_db:
      hostname: {env: DAGSTER_PG_HOST}
      port: {env: DAGSTER_PG_PORT}
      username: {env: DAGSTER_PG_USERNAME}
      password: {env: DAGSTER_PG_PASSWORD}
      db_name: {env: DAGSTER_PG_DB}
      params:
        sslmode: require
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
run_launcher:
  module: dagster_aws.ecs
  class: EcsRunLauncher
  config:
    task_definition: {env: DAGSTER_RUN_TASK_DEFINITION}
    container_name: run
    secrets_tag: null
telemetry:
  enabled: false
"""

DOCKERFILE = """\
FROM public.ecr.aws/docker/library/python:3.11-slim
COPY {wheel} dagster.yaml workspace.yaml /opt/dagster/
RUN pip install --no-cache-dir /opt/dagster/{wheel} {extras} && mkdir -p /opt/dagster/home && mv /opt/dagster/*.yaml /opt/dagster/home/ \\
    && chown -R 1000:1000 /opt/dagster/home
ENV DAGSTER_HOME=/opt/dagster/home CLICKPIPE_ENV=aws
WORKDIR /opt/dagster/home
USER 1000
"""


def dagster_image_requirements(repo_root: Path = REPO_ROOT) -> list[str]:
    """What the image adds to the project wheel, at the pins of the project's Dagster family."""
    import re
    import tomllib

    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    pins = {re.split(r"[\\[=]", d, maxsplit=1)[0]: d.split("==")[1] for d in project["dependencies"] if "==" in d}
    return [f"dagster-webserver=={pins['dagster']}", f"dagster-postgres=={pins['dagster-aws']}"]


def write_dagster_image_context(out_dir: Path, repo_root: Path = REPO_ROOT) -> Path:
    """A Docker build context for Dagster on ECS (``ecs.ContainerImage.from_asset``)."""
    out = Path(out_dir) / "dagster-image"
    out.mkdir(parents=True)
    wheel = project_wheel(Path(repo_root))
    shutil.copy2(wheel, out / wheel.name)
    (out / "dagster.yaml").write_text(DAGSTER_YAML)
    (out / "workspace.yaml").write_text("load_from:\n  - python_module: clickpipe_dagster.definitions\n")
    (out / "Dockerfile").write_text(DOCKERFILE.format(wheel=wheel.name, extras=" ".join(dagster_image_requirements(repo_root))))
    return out
