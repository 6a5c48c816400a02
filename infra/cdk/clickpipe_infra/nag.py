"""cdk-nag 3.x: the AwsSolutions pack as a CDK validation plugin, and acknowledgements with reasons.

cdk-nag 3 reads acknowledgements from ``Validations.of(scope).acknowledge(...)`` on the resource or any
ancestor. A finding inside a rule (IAM5's wildcards) has its own id ``RuleId[Finding]``, the 3.x form of
2.x's ``appliesTo``; :func:`acknowledge` builds that id from ``applies_to``.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


# Context key the tests set to build the app without acknowledgements, to prove each one still
# matches a real finding (a stale acknowledgement would hide nothing and explain nothing).
SKIP_ACKNOWLEDGEMENTS = "clickpipe:nag-skip-acknowledgements"


def acknowledge(scope: IConstruct, rule: str, reason: str, applies_to: list[str] | None = None) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5``) on scope; one id per ``applies_to`` finding."""
    if not rule.startswith("AwsSolutions-"):
        raise ValueError(f"acknowledge the full rule id, e.g. AwsSolutions-IAM5, not {rule!r}")
    if len(reason.split()) < 8:
        raise ValueError(f"{rule}: give a specific reason, not {reason!r}")
    ids = [f"{rule}[{finding}]" for finding in applies_to] if applies_to else [rule]
    if scope.node.try_get_context(SKIP_ACKNOWLEDGEMENTS):
        return
    for rule_id in ids:
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def add_nag(app: cdk.App) -> AwsSolutionsChecks:
    """Run the AwsSolutions pack at synth: any unacknowledged finding fails synthesis."""
    pack = AwsSolutionsChecks(app, verbose=True)
    cdk.Validations.of(app).add_plugins(pack)
    return pack
