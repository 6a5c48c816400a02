"""The code zip the CDK app ships to Glue (``--extra-py-files``) is enough for the jobs: the
modules import from the zip itself and Job 2 finds its SQL (marts, migrations) as package resources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "infra" / "cdk"))

from clickpipe_infra.repo import write_glue_code_zip  # noqa: E402

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import glue_scripts, glue_scripts.marts as marts, glue_scripts.pg_load as pg_load
import glue_scripts.processed_to_rds, glue_scripts.raw_to_processed, glue_scripts.marts_engine
print(json.dumps({
    "package": glue_scripts.__file__,
    "marts": {m.name: m.sql() for m in marts.MARTS.values()},
    "migrations": [[m.version, m.checksum] for m in pg_load.migrations()],
}))
"""


def test_job_modules_and_sql_load_from_the_glue_zip(tmp_path):
    zip_path = write_glue_code_zip(tmp_path)
    # -P: the working directory (the repo) does not go on sys.path; the editable install's path
    # entry comes after the zip, which is inserted first.
    done = subprocess.run([sys.executable, "-P", "-c", PROBE, str(zip_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["package"].startswith(str(zip_path))
    sql_dir = REPO / "glue_scripts" / "sql"
    assert got["marts"] == {name: (sql_dir / "marts" / f"{name}.sql").read_text() for name in got["marts"]}
    assert len(got["marts"]) == 5
    from glue_scripts.pg_load import migrations

    assert got["migrations"] == [[m.version, m.checksum] for m in migrations(sql_dir / "migrations")]
