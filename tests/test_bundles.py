"""What the CDK app ships to Glue and Lambda loads and runs on its own, with no access to the
working tree: each bundle is imported in an isolated interpreter (``-I -S``: no current directory,
no ``PYTHON*`` variables, no ``site`` and therefore none of its ``.pth`` files, so the editable
install's finder, which would serve any project module, is never installed). Third-party packages
come from this venv's site-packages, put on ``sys.path`` by hand after the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from stream_fixtures import CREDENTIALS, REGION, client, moto_endpoint, new_stream, read_stream  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra" / "cdk"))

from clickpipe_infra.repo import write_glue_code_zip, write_lambda_bundle, write_vendor_zip  # noqa: E402

from clickpipe_core import pg_load  # noqa: E402
from clickpipe_core.marts import MARTS  # noqa: E402


def _standard_library() -> list[str]:
    """``sys.path`` of an isolated interpreter: the standard library only."""
    done = subprocess.run([sys.executable, "-I", "-S", "-c", "import json, sys; print(json.dumps(sys.path))"], capture_output=True, text=True)
    return json.loads(done.stdout)


def run_isolated(code: str, bundle: list[Path], *args: str, env: dict | None = None, cwd: Path) -> subprocess.CompletedProcess:
    library = _standard_library() + [sysconfig.get_paths()["purelib"]]
    prelude = f"import sys; sys.path[:] = {[str(b) for b in bundle] + library!r}\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code, *args], capture_output=True, text=True, cwd=cwd, env=env
    )


GLUE_PROBE = """
import importlib, json
import glue_scripts.raw_to_processed, glue_scripts.processed_to_rds, glue_scripts.marts_engine, glue_scripts.duckdb_engine
import clickpipe_core, clickpipe_core.marts as marts, clickpipe_core.pg_load as pg_load
try:
    importlib.import_module("clickpipe_dagster")
    dagster_side = "importable"
except ModuleNotFoundError:
    dagster_side = "absent"
print(json.dumps({
    "kernel": clickpipe_core.__file__,
    "jobs": glue_scripts.raw_to_processed.__file__,
    "dagster_side": dagster_side,
    "marts": {m.name: m.sql() for m in marts.MARTS.values()},
    "migrations": [[m.version, m.checksum] for m in pg_load.migrations()],
    "enrichment": importlib.import_module("clickpipe_core.enrichment").parse_user_agent("Mozilla/5.0 (compatible; Googlebot/2.1)").is_bot,
}))
"""


def test_glue_zip_holds_the_jobs_the_kernel_and_the_sql(tmp_path):
    zip_path = write_glue_code_zip(tmp_path)
    vendor = write_vendor_zip(tmp_path)  # dagster_pipes, as Glue gets it
    done = run_isolated(GLUE_PROBE, [zip_path, vendor], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["kernel"].startswith(str(zip_path)) and got["jobs"].startswith(str(zip_path))
    assert got["dagster_side"] == "absent"  # proves the working tree was out of reach
    assert got["marts"] == {m.name: m.sql() for m in MARTS.values()}
    assert got["migrations"] == [[m.version, m.checksum] for m in pg_load.migrations()]
    assert got["enrichment"] is True  # Job 1's enrichment parses from the bundle (ua-parser: --additional-python-modules)


def test_glue_job1_runs_from_the_zip(tmp_path, sample):
    """Job 1 started as Glue starts it: the script file, with the zips on the path, no checkout."""
    from clickpipe_core import layout

    zip_path = write_glue_code_zip(tmp_path)
    vendor = write_vendor_zip(tmp_path)
    lake = tmp_path / "lake"
    target = lake / layout.raw_batch_key("users", sample.days[0], "users.csv")
    target.parent.mkdir(parents=True)
    target.write_bytes(sample.users_file.read_bytes())
    code = (
        "import runpy, sys\n"
        "sys.argv = ['raw_to_processed.py', '--engine', 'duckdb', '--dataset', 'users', '--lake', sys.argv[1], '--partition', sys.argv[2]]\n"
        "import zipfile\n"
        "src = zipfile.ZipFile(sys.path[0]).read('glue_scripts/raw_to_processed.py')\n"
        "code = compile(src, 'raw_to_processed.py', 'exec')\n"
        "g = {'__name__': '__main__', '__file__': '/glue/scripts/raw_to_processed.py'}\n"
        "try:\n    exec(code, g)\nexcept SystemExit as e:\n    sys.exit(e.code)\n"
    )
    done = run_isolated(code, [zip_path, vendor], str(lake), sample.days[0], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (lake / layout.snapshot_key("users")).is_file()


LAMBDA_PROBE = """
import json, importlib
module, name = sys.argv[1].rsplit(".", 1)
handler = getattr(importlib.import_module(module), name)
out = handler({"events": 120, "seed": 5, "duplicate_share": 0.0})
print(json.dumps({"file": importlib.import_module(module).__file__, "out": out}))
"""


def test_lambda_bundle_runs_its_handler(tmp_path, moto_endpoint):
    from clickpipe_infra.repo import LAMBDA_HANDLER

    bundle = write_lambda_bundle(tmp_path)
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=1)
    env = {
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_KINESIS": moto_endpoint,
        "CLICKPIPE_KINESIS_STREAM": stream,
    }
    done = run_isolated(LAMBDA_PROBE, [bundle], LAMBDA_HANDLER, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["file"].startswith(str(bundle))
    assert got["out"]["events"] == 120 and len(read_stream(kinesis, stream)) == got["out"]["records_sent"] == 120


@pytest.mark.parametrize("package", ["clickpipe_dagster", "glue_scripts"])
def test_lambda_bundle_holds_no_job_or_dagster_code(tmp_path, package):
    bundle = write_lambda_bundle(tmp_path)
    assert (bundle / "clickpipe_core" / "streaming" / "kinesis.py").is_file()
    assert not (bundle / package).exists()


def test_vendor_zip_alone_provides_dagster_pipes(tmp_path):
    """Glue Job 2 has no package index in the VPC: its dagster_pipes must come from the vendor zip,
    loaded here with nothing but the standard library beside it."""
    from importlib.metadata import version

    vendor = write_vendor_zip(tmp_path)
    code = "import sys, json\nsys.path[:] = [sys.argv[1]] + " + repr(_standard_library()) + "\nimport dagster_pipes\n" \
           "print(json.dumps({'file': dagster_pipes.__file__, 'has_open': hasattr(dagster_pipes, 'open_dagster_pipes')}))"  # fmt: skip
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(vendor)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["file"].startswith(str(vendor)) and got["has_open"]
    with __import__("zipfile").ZipFile(vendor) as zf:
        assert f'"{version("dagster-pipes")}"' in zf.read("dagster_pipes/version.py").decode()
