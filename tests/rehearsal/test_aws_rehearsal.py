"""``make aws-rehearsal``: the whole CLICKPIPE_ENV=aws path on emulators, every call under its own
role (``rehearsal/run.py`` says what runs and what is checked); the same marts as the local path."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.rehearsal


def test_raw_files_and_clicks_reach_the_dashboard_on_the_rehearsed_stack(cdk_out, tmp_path):
    from clickpipe_core.marts import MARTS
    from rehearsal.run import rehearse

    report = rehearse(cdk_out, tmp_path)
    (tmp_path / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\n[rehearsal] wall time {report['wall_seconds']} s; report {tmp_path / 'report.json'}")
    failed = {name: c["detail"] for name, c in report["checks"].items() if not c["ok"]}
    assert not failed, json.dumps(failed, indent=2, default=str)[:6000]
    marts = [n for n in report["checks"] if n.startswith("mart ")]
    assert len(marts) == len(MARTS) and len(report["checks"]) >= 14 + len(MARTS)  # every stage was reached and checked
