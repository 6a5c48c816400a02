"""cdk-nag (AwsSolutions) at synth: no unacknowledged finding, and no acknowledgement without a finding.

These Apps carry the nag plugin, so a finding makes ``app.synth()`` raise; the tests also read the
validation report and run the pack directly, so a failure says which rule and construct.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from clickpipe_infra.app import build_app
from clickpipe_infra.nag import SKIP_ACKNOWLEDGEMENTS, acknowledge
from conftest import VARIANT_CONTEXT, repo_with_job2

CONFIGS = {"default": {}, "variant": VARIANT_CONTEXT}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def nagged(request, tmp_path_factory):
    """(name, app, stack, outdir) of a synthesized App with the AwsSolutions plugin."""
    name = request.param
    outdir = tmp_path_factory.mktemp(f"nag-{name}")
    kwargs = {"context": CONFIGS[name]}
    # Job 2 always ships with its wheelhouse (the BucketDeployment path).
    kwargs["repo_root"] = repo_with_job2(tmp_path_factory.mktemp("nag-repo"))
    app, stack = build_app(outdir=str(outdir), nag=True, **kwargs)
    try:
        app.synth()
        error = None
    except Exception as e:  # jsii surfaces the ValidationFailed as RuntimeError
        error = e
    return name, app, stack, outdir, kwargs, error


def _violations(report_path):
    report = json.loads(report_path.read_text())
    out = []
    for plugin in report["pluginReports"]:
        for v in plugin["violations"]:
            for c in v.get("violatingConstructs", []):
                out.append(f"{plugin['pluginName']}: {v['severity']} {v['ruleName']} at {c['constructPath']}")
    return report, out


def test_synth_with_cdk_nag_passes(nagged):
    name, app, stack, outdir, _, error = nagged
    report_path = outdir / "validation-report.json"
    if report_path.exists():
        report, violations = _violations(report_path)
        assert not violations, "\n".join(violations)
        assert all(p["conclusion"] == "success" for p in report["pluginReports"])
    assert error is None, error
    assert (outdir / f"{stack.stack_name}.template.json").exists()


def test_aws_solutions_pack_reports_nothing_unacknowledged(nagged):
    # The pack run directly on the tree: errors and warnings alike must be zero.
    _, app, *_ = nagged
    result = AwsSolutionsChecks().validate_scope(app)
    found = [f"{v.severity} {v.rule_name} at {[r.construct_path for r in v.violating_resources]}" for v in result.violations]
    assert result.success and not found, "\n".join(found)


def test_no_error_or_warning_annotations(nagged):
    _, _, stack, *_ = nagged
    annotations = Annotations.from_stack(stack)
    errors = annotations.find_error("*", Match.any_value())
    warnings = annotations.find_warning("*", Match.any_value())
    assert not errors, [(e.id, e.entry.data) for e in errors]
    assert not warnings, [(w.id, w.entry.data) for w in warnings]


def _acknowledgements(app) -> dict[tuple[str, str], str]:
    """(construct path, rule id) -> reason, for every acknowledgement recorded in the tree."""
    acks = {}
    for c in app.node.find_all():
        for m in c.node.metadata:
            if m.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in m.data.items():
                    rule = rule.split("::", 1)[1] if rule.lower().startswith("annotation::") else rule
                    acks[(c.node.path, rule)] = reason
    return acks


def test_every_acknowledgement_matches_a_real_finding_and_explains_it(nagged, tmp_path):
    name, app, _, _, kwargs, _ = nagged
    acks = {k: v for k, v in _acknowledgements(app).items() if k[1].startswith("AwsSolutions-")}
    assert acks, "expected some acknowledgements"
    # The same App without acknowledgements: what would the pack report?
    raw_kwargs = {**kwargs, "context": {**kwargs["context"], SKIP_ACKNOWLEDGEMENTS: True}}
    raw_app, _ = build_app(outdir=str(tmp_path), nag=False, **raw_kwargs)
    raw = AwsSolutionsChecks().validate_scope(raw_app)
    findings = {(r.construct_path, v.rule_name) for v in raw.violations for r in v.violating_resources}
    assert findings, "without acknowledgements the pack must find something"

    def covers(ack_path, ack_rule, path, rule):
        return ack_rule == rule and (path == ack_path or path.startswith(ack_path + "/"))

    unexplained = sorted(f for f in findings if not any(covers(p, r, *f) for p, r in acks))
    stale = sorted(a for a in acks if not any(covers(*a, *f) for f in findings))
    assert not unexplained, unexplained
    assert not stale, f"acknowledgements without a finding: {stale}"
    for (path, rule), reason in acks.items():
        assert len(reason.split()) >= 8, (path, rule, reason)
        if rule.startswith("AwsSolutions-IAM5"):
            assert rule.startswith("AwsSolutions-IAM5[") and rule.endswith("]"), "IAM5 must name the wildcard it accepts"


def test_acknowledge_refuses_vague_or_partial_rule_ids():
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    with pytest.raises(ValueError, match="full rule id"):
        acknowledge(stack, "IAM5", "a perfectly long and specific reason for this")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-S1", "not needed")
