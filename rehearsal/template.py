"""The synthesized stack (``cdk.out``) as the rehearsal deploys it: resources, names, policies, assets.

CloudFormation gives every resource a physical name and resolves the template's intrinsic functions
(``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub`` ...) at deploy time; :class:`Stack` does the same
with names of its own choosing, so everything the rehearsal creates, and every policy it enforces,
comes from the template itself, never from a second copy of the stack's shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _short(logical_id: str) -> str:
    """A logical id without CDK's 8-character hash suffix, lower case."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id).lower()


@dataclass(frozen=True)
class Asset:
    source: Path  # the file or directory in cdk.out
    packaging: str  # "file" or "zip" (a directory the deploy zips)
    bucket: str
    key: str


class Stack:
    """One synthesized stack with every value resolved for an emulated account."""

    def __init__(self, cdk_out: Path, name: str = "Clickpipe", *, overrides: dict | None = None):
        self.cdk_out = Path(cdk_out)
        self.name = name
        path = self.cdk_out / f"{name}.template.json"
        if not path.is_file():
            raise FileNotFoundError(f"no synthesized template at {path}: run `make synth` (or `make aws-rehearsal`)")
        self.template = json.loads(path.read_text())
        self.resources: dict[str, dict] = self.template["Resources"]
        self.pseudo = {
            "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": name, "AWS::NoValue": None,
        }  # fmt: skip
        # (logical id, attribute) -> value decided at deploy time (the RDS endpoint, the secret ARN)
        self.overrides: dict[tuple[str, str], str] = dict(overrides or {})

    # -- names -------------------------------------------------------------------------------------

    def of_type(self, type_: str) -> dict[str, dict]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == type_}

    def one(self, type_: str) -> tuple[str, dict]:
        found = self.of_type(type_)
        if len(found) != 1:
            raise LookupError(f"expected one {type_} in the template, found {sorted(found)}")
        return next(iter(found.items()))

    def one_of_prefix(self, type_: str, prefix: str) -> str:
        """The logical id of the one resource of ``type_`` whose id starts with ``prefix``."""
        found = [lid for lid in self.of_type(type_) if lid.startswith(prefix)]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {prefix}*, found {found}")
        return found[0]

    def ref(self, lid: str):
        if (lid, "Ref") in self.overrides:
            return self.overrides[(lid, "Ref")]
        if lid in self.pseudo:
            return self.pseudo[lid]
        if lid in self.template.get("Parameters", {}):
            return self.template["Parameters"][lid].get("Default")
        r = self.resources[lid]
        p = r.get("Properties", {})
        t = r["Type"]
        named = {
            "AWS::Glue::Job": "Name", "AWS::Athena::WorkGroup": "Name", "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Lambda::Function": "FunctionName", "AWS::Glue::Connection": None,
        }  # fmt: skip
        if t == "AWS::Glue::Database":
            return p["DatabaseInput"]["Name"]
        if named.get(t) and p.get(named[t]):
            return self.resolve(p[named[t]])
        if t == "AWS::S3::Bucket":
            return f"{self.name.lower()}-{_short(lid)}"[:63]
        if t == "AWS::IAM::Role":
            return f"{self.name}-{_short(lid)}"[:64]
        if t == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.name}-{_short(lid)}"
        if t == "AWS::KMS::Key":
            return "0c3d6d6e-5b6a-4b6e-9a8e-" + f"{abs(hash(lid)) % 10**12:012d}"
        if t.startswith("AWS::EC2::"):
            return f"{t.split('::')[-1].lower()[:6]}-{_short(lid)[:17]}"
        return f"{self.name}-{_short(lid)}"

    def get_att(self, lid: str, attr: str):
        if (lid, attr) in self.overrides:
            return self.overrides[(lid, attr)]
        r = self.resources[lid]
        t, name = r["Type"], self.ref(lid)
        if attr == "Arn":
            arns = {
                "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
                "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                "AWS::Kinesis::Stream": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}",
                "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
                "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}",
                "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
                "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}",
                "AWS::QuickSight::VPCConnection": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:vpcConnection/"
                + str(self.resolve(r["Properties"].get("VPCConnectionId", name))),
                "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
            }
            if t in arns:
                return arns[t]
            return f"arn:aws:{t.split('::')[1].lower()}:{REGION}:{ACCOUNT}:{name}"
        if attr == "GroupId":
            return name
        if attr in ("Endpoint.Address", "Endpoint.Port", "MasterUserSecret.SecretArn"):
            raise KeyError(f"{lid}.{attr} is decided at deploy time: pass it in overrides")
        return f"{name}.{attr}"

    # -- intrinsic functions -----------------------------------------------------------------------

    def resolve(self, value):
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(lid, attr)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in self.resolve(parts))
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

                def sub(m):
                    name = m.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name and name not in self.pseudo:
                        return str(self.get_att(*name.split(".", 1)))
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if fn == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if fn == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b"]
        return {k: self.resolve(v) for k, v in value.items()}

    def props(self, lid: str) -> dict:
        return self.resolve(self.resources[lid].get("Properties", {}))

    # -- what the rehearsal needs ------------------------------------------------------------------

    def outputs(self) -> dict[str, str]:
        """Stack outputs (key -> value), as ``cdk deploy --outputs-file`` writes them."""
        return {k: str(self.resolve(o["Value"])) for k, o in self.template.get("Outputs", {}).items()}

    def role_statements(self) -> dict[str, list[dict]]:
        """Role name -> every identity-policy statement attached to it (resolved)."""
        out: dict[str, list[dict]] = {self.ref(lid): [] for lid in self.of_type("AWS::IAM::Role")}
        for lid, r in self.of_type("AWS::IAM::Role").items():
            for pol in r["Properties"].get("Policies", []):
                out[self.ref(lid)] += _statements(self.resolve(pol["PolicyDocument"]))
            if r["Properties"].get("ManagedPolicyArns"):
                raise ValueError(f"{lid}: managed policies are not rehearsed")
        for lid in self.of_type("AWS::IAM::Policy"):
            p = self.props(lid)
            for role in p.get("Roles", []):
                out[role] += _statements(p["PolicyDocument"])
        return out

    def role_name(self, construct_path_part: str) -> str:
        """The one role whose logical id starts with ``construct_path_part`` (e.g. "ProcessingJob1Role")."""
        found = [lid for lid in self.of_type("AWS::IAM::Role") if lid.startswith(construct_path_part)]
        if len(found) != 1:
            raise LookupError(f"expected one role {construct_path_part}*, found {found}")
        return self.ref(found[0])

    def assets(self) -> dict[str, Asset]:
        """Object key -> the asset CDK would publish there (from ``<stack>.assets.json``)."""
        manifest = json.loads((self.cdk_out / f"{self.name}.assets.json").read_text())
        out = {}
        for entry in manifest.get("files", {}).values():
            dest = next(iter(entry["destinations"].values()))
            bucket = self.resolve({"Fn::Sub": dest["bucketName"]})
            out[dest["objectKey"]] = Asset(self.cdk_out / entry["source"]["path"], entry["source"].get("packaging", "file"), bucket, dest["objectKey"])
        return out


def _statements(document: dict) -> list[dict]:
    st = document.get("Statement", [])
    return st if isinstance(st, list) else [st]
