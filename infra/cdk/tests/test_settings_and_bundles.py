"""Context settings and the synth-time Glue bundles."""

from __future__ import annotations

import shutil
import zipfile

import aws_cdk as cdk
import pytest

from clickpipe_infra.layout import LakeLayout
from clickpipe_infra.repo import REPO_ROOT, package_files, write_glue_code_zip, write_vendor_zip
from clickpipe_infra.settings import Settings


def _settings(**context) -> Settings:
    app = cdk.App(context=context)
    return Settings.from_context(app)


def test_defaults_are_the_production_shape():
    s = _settings()
    assert s.multi_az is True and s.kinesis_shards == 0 and s.quicksight is True


def test_context_strings_are_parsed():
    s = _settings(multi_az="false", kinesis_shards="3", lake_prefix="lake", quicksight="0")
    assert (s.multi_az, s.kinesis_shards, s.lake_prefix, s.quicksight) == (False, 3, "lake", False)


@pytest.mark.parametrize(
    "context,message",
    [
        ({"multi_az": "maybe"}, "not a boolean"),
        ({"firehose_buffer_mib": "500"}, "firehose_buffer_mib"),
        ({"raw_ia_days": "10"}, "raw_ia_days >= 30"),
        ({"raw_ia_days": "100", "raw_glacier_days": "90"}, "raw_ia_days < raw_glacier_days"),
        ({"lake_prefix": "lake/"}, "lake_prefix"),
    ],
)
def test_bad_context_is_refused(context, message):
    with pytest.raises(ValueError, match=message):
        _settings(**context)


def test_layout_keys():
    assert LakeLayout().clicks_raw == "raw/clicks/"
    assert LakeLayout("lake").quarantine == "lake/quarantine/"
    assert LakeLayout().lake_uri("b") == "s3://b" and LakeLayout("p").lake_uri("b") == "s3://b/p"


def test_glue_code_zip_is_deterministic(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = write_glue_code_zip(tmp_path / "a"), write_glue_code_zip(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert zf.read("clickpipe_core/catalog.py") == (REPO_ROOT / "clickpipe_core/catalog.py").read_bytes()


def test_a_package_the_definition_does_not_ship_is_refused(tmp_path):
    """A bundle is what pyproject.toml ships: a package left out of it fails the synth, loudly."""
    repo = tmp_path / "repo"
    for rel in ("clickpipe_core", "clickpipe_dagster", "glue_scripts"):
        shutil.copytree(REPO_ROOT / rel, repo / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "README.md").write_text("x")
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert '"glue_scripts*"' in pyproject
    (repo / "pyproject.toml").write_text(pyproject.replace(', "glue_scripts*"', ""))
    with pytest.raises(FileNotFoundError, match="no package glue_scripts"):
        package_files(("clickpipe_core", "glue_scripts"), repo)


def test_vendor_zip_has_no_compiled_files(tmp_path):
    with zipfile.ZipFile(write_vendor_zip(tmp_path)) as zf:
        names = zf.namelist()
    assert "dagster_pipes/__init__.py" in names
    assert not [n for n in names if n.endswith((".pyc", ".so"))]
