"""IAM policy evaluation for the rehearsal: what moto's own enforcement leaves out.

moto (``INITIAL_NO_AUTH_ACTION_COUNT``) checks signatures, identities and actions, but for every
service but S3 it evaluates a request against the resource ``*`` (so a statement scoped to an ARN
never applies) and it ignores ``s3:prefix`` conditions. :func:`evaluate` implements what the
stack's policies rely on: ``Action``/``NotAction`` and ``Resource``/``NotResource`` with wildcards,
explicit ``Deny``, and the ``StringEquals``/``StringLike`` (and ``...IfExists``) condition operators,
where a condition on a key the request does not carry does not match (IAM's rule).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    # IAM wildcards: * any run, ? one character; fnmatch's [] classes must not apply
    p = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(value, p) if case else fnmatch.fnmatchcase(value.lower(), p.lower())


def _conditions_hold(conditions: dict, context: dict) -> bool:
    for operator, pairs in (conditions or {}).items():
        if_exists = operator.endswith("IfExists")
        op = operator.removesuffix("IfExists")
        for key, wanted in pairs.items():
            if key not in context:
                if if_exists:
                    continue
                return False
            actual = context[key]
            values = [str(v) for v in _list(wanted)]
            if op == "StringEquals":
                ok = str(actual) in values
            elif op == "StringLike":
                ok = any(_like(v, str(actual)) for v in values)
            elif op == "StringNotEquals":
                ok = str(actual) not in values
            elif op == "ArnLike" or op == "ArnEquals":
                ok = any(_like(v, str(actual)) for v in values)
            else:
                raise NotImplementedError(f"condition operator {operator} is not rehearsed")
            if not ok:
                return False
    return True


@dataclass
class Decision:
    allowed: bool
    reason: str
    matched: list[str] = field(default_factory=list)  # Sids that allowed


def evaluate(statements: list[dict], action: str, resources: list[str], context: dict | None = None) -> Decision:
    """Whether an identity with ``statements`` may do ``action`` on every one of ``resources``."""
    context = context or {}
    matched: list[str] = []
    for resource in resources or ["*"]:
        allowed_here = False
        for st in statements:
            if "Action" in st and not any(_like(a, action, case=False) for a in _list(st["Action"])):
                continue
            if "NotAction" in st and any(_like(a, action, case=False) for a in _list(st["NotAction"])):
                continue
            if "Resource" in st and not any(_like(r, resource) for r in _list(st["Resource"])):
                continue
            if "NotResource" in st and any(_like(r, resource) for r in _list(st["NotResource"])):
                continue
            if not _conditions_hold(st.get("Condition", {}), context):
                continue
            if st.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {st.get('Sid') or 'a statement'} for {resource}")
            allowed_here = True
            matched.append(st.get("Sid") or "?")
        if not allowed_here:
            ctx = f" with {context}" if context else ""
            return Decision(False, f"no statement allows {action} on {resource}{ctx}")
    return Decision(True, "allowed", matched)
