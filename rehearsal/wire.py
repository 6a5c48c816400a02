"""What an HTTP request to the emulator is, in IAM's and the service model's terms.

:func:`classify` turns a signed request into a :class:`Call`: who made it (the access key), the
service and operation, its input parameters (for the JSON and REST-JSON protocols, checked against
the service model), the IAM action and the ARNs it acts on, and the condition keys IAM would see
(``s3:prefix``).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qs, unquote

import botocore.session

from rehearsal.template import ACCOUNT, REGION


@dataclass
class Call:
    access_key: str | None
    service: str  # the signing name: s3, glue, athena, quicksight, ...
    operation: str  # the model's operation name, or the S3 action's name
    action: str  # the IAM action, e.g. glue:StartJobRun
    params: dict = field(default_factory=dict)
    resources: list[str] = field(default_factory=list)
    context: dict = field(default_factory=dict)
    extra_checks: list[tuple[str, list[str]]] = field(default_factory=list)  # (action, resources) also required
    protocol: str = ""


@lru_cache(maxsize=None)
def service_model(signing_name: str):
    session = botocore.session.get_session()
    names = {"monitoring": "cloudwatch", "kinesis": "kinesis", "logs": "logs", "firehose": "firehose"}
    return session.get_service_model(names.get(signing_name, signing_name))


@lru_cache(maxsize=None)
def _rest_routes(signing_name: str) -> list[tuple[str, re.Pattern, str]]:
    model = service_model(signing_name)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?")[0]
        regex = "^" + re.sub(r"\\\{([A-Za-z0-9_]+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "/?$"
        routes.append((http["method"], re.compile(regex), name))
    # literal segments first, so /dashboards/{id}/versions/{n} beats a looser route
    routes.sort(key=lambda r: -len(r[1].pattern))
    return routes


def _signing(headers) -> tuple[str | None, str | None]:
    auth = headers.get("Authorization", "")
    m = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/", auth)
    return (m.group(1), m.group(3)) if m else (None, None)


def classify(method: str, path: str, query: str, headers, body: bytes) -> Call | None:
    """None for requests that are not AWS API calls (moto's own /moto-api/, unsigned probes)."""
    access_key, service = _signing(headers)
    if service is None:
        return None
    q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if service == "s3":
        return _s3(access_key, method, unquote(path), q, headers, body)
    target = headers.get("X-Amz-Target")
    if target:
        op = target.split(".")[-1]
        params = json.loads(body or b"{}")
        call = Call(access_key, service, op, f"{service}:{op}", params, protocol="json")
        call.resources = _json_resources(service, op, params)
        return call
    model = service_model(service)
    if model.protocol == "rest-json":
        for http_method, regex, name in _rest_routes(service):
            m = regex.match(path) if http_method == method else None
            if m:
                params = {k: unquote(v) for k, v in m.groupdict().items()}
                op = model.operation_model(name)
                for member, shape in (op.input_shape.members.items() if op.input_shape else []):
                    loc = shape.serialization.get("location")
                    if loc == "querystring" and shape.serialization.get("name", member) in q:
                        params[member] = q[shape.serialization.get("name", member)]
                if body:
                    params.update(json.loads(body))
                call = Call(access_key, service, name, f"{service}:{name}", params, protocol="rest-json")
                _quicksight_resources(call)
                return call
        return Call(access_key, service, f"{method} {path}", f"{service}:Unknown", protocol="rest-json")
    form = {k: v[0] for k, v in parse_qs(body.decode() if body else query).items()}
    op = form.get("Action", "Unknown")
    return Call(access_key, service, op, f"{service}:{op}", form, resources=["*"], protocol="query")


# -- S3 (REST-XML): the IAM action of each request form the project uses --------------------------


def _s3(access_key, method, path, q, headers, body) -> Call:
    parts = path.lstrip("/").split("/", 1)
    bucket, key = parts[0], (parts[1] if len(parts) > 1 else "")
    bucket_arn, obj_arn = f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/{key}"
    call = Call(access_key, "s3", "", "", protocol="rest-xml")
    if key:
        if method in ("GET", "HEAD"):
            op = "ListMultipartUploadParts" if "uploadId" in q else "GetObject"
        elif method == "PUT":
            op = "PutObject"
            source = headers.get("x-amz-copy-source")
            if source:
                src = unquote(source.split("?")[0]).lstrip("/")
                call.extra_checks.append(("s3:GetObject", [f"arn:aws:s3:::{src}"]))
        elif method == "POST":
            op = "PutObject"  # CreateMultipartUpload / CompleteMultipartUpload
        elif method == "DELETE":
            op = "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
        else:
            op = f"{method}Object"
        call.operation, call.action, call.resources = op, f"s3:{op}", [obj_arn]
        return call
    if method == "POST" and "delete" in q:
        keys = re.findall(rb"<Key>(.*?)</Key>", body or b"")
        call.operation, call.action = "DeleteObjects", "s3:DeleteObject"
        call.resources = [f"arn:aws:s3:::{bucket}/{unquote(k.decode())}" for k in keys] or [f"{bucket_arn}/"]
        return call
    if method in ("GET", "HEAD"):
        if "location" in q:
            op = "GetBucketLocation"
        elif "uploads" in q:
            op = "ListBucketMultipartUploads"
        elif "versions" in q:
            op = "ListBucketVersions"
        else:
            op = "ListBucket"
            if "prefix" in q:
                call.context["s3:prefix"] = q["prefix"]
        call.operation, call.action, call.resources = op, f"s3:{op}", [bucket_arn]
        return call
    op = {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method}Bucket")
    call.operation, call.action, call.resources = op, f"s3:{op}", [bucket_arn]
    return call


# -- JSON-protocol services: the ARN each operation the project calls acts on ---------------------

_ARN = f"{REGION}:{ACCOUNT}"


def _kinesis_stream(params: dict) -> str:
    if params.get("StreamARN"):
        return params["StreamARN"]
    name = params.get("StreamName")
    if not name and params.get("ShardIterator"):
        # moto's iterators are base64 of "<stream>:<shard>:<sequence>"
        try:
            name = base64.b64decode(params["ShardIterator"]).decode().split(":")[0]
        except Exception:
            name = "?"
    return f"arn:aws:kinesis:{_ARN}:stream/{name}"


def _json_resources(service: str, op: str, p: dict) -> list[str]:
    if service == "glue":
        catalog = f"arn:aws:glue:{_ARN}:catalog"
        if "JobName" in p:
            return [f"arn:aws:glue:{_ARN}:job/{p['JobName']}"]
        if op == "GetDatabase":
            return [catalog, f"arn:aws:glue:{_ARN}:database/{p['Name']}"]
        if op in ("GetTable", "GetPartitions", "GetTables"):
            db = p["DatabaseName"]
            table = p.get("Name") or p.get("TableName") or "*"
            return [catalog, f"arn:aws:glue:{_ARN}:database/{db}", f"arn:aws:glue:{_ARN}:table/{db}/{table}"]
        if op == "GetConnection":
            return [catalog, f"arn:aws:glue:{_ARN}:connection/{p['Name']}"]
    if service == "athena":
        return [f"arn:aws:athena:{_ARN}:workgroup/{p.get('WorkGroup') or p.get('__workgroup__', 'primary')}"]
    if service == "kinesis":
        return [_kinesis_stream(p)]
    if service == "logs":
        group = p.get("logGroupName", "")
        stream = p.get("logStreamName")
        return [f"arn:aws:logs:{_ARN}:log-group:{group}:log-stream:{stream}" if stream else f"arn:aws:logs:{_ARN}:log-group:{group}:*"]
    if service == "secretsmanager":
        return [p.get("SecretId", "*")]
    if service == "kms":
        return [p.get("KeyId", "*")]
    return ["*"]


def _quicksight_resources(call: Call) -> None:
    p, qs = call.params, f"arn:aws:quicksight:{_ARN}"
    if "IngestionId" in p:
        call.resources = [f"{qs}:dataset/{p['DataSetId']}/ingestion/{p['IngestionId']}"]
    elif "DataSetId" in p:
        call.resources = [f"{qs}:dataset/{p['DataSetId']}"]
        sources = {t.get("RelationalTable", {}).get("DataSourceArn") for t in (p.get("PhysicalTableMap") or {}).values()} - {None}
        if sources:
            call.extra_checks.append(("quicksight:PassDataSource", sorted(sources)))
    elif "DataSourceId" in p:
        call.resources = [f"{qs}:datasource/{p['DataSourceId']}"]
    elif "DashboardId" in p:
        call.resources = [f"{qs}:dashboard/{p['DashboardId']}"]
        decls = (p.get("Definition") or {}).get("DataSetIdentifierDeclarations") or []
        if decls:
            call.extra_checks.append(("quicksight:PassDataSet", sorted({d["DataSetArn"] for d in decls})))
    else:
        call.resources = ["*"]
