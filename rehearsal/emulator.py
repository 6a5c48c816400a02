"""The rehearsal's AWS: a moto server with IAM enforcement on, wrapped by the stand-ins.

Run as its own process (``python -m rehearsal.emulator --cdk-out DIR --port N --state DIR``) so the
enforcement setting stays out of the test process. At start it creates one administrator (the
deployer: CloudFormation's stand-in) directly in moto's backend, writes its keys to
``<state>/admin.json`` and enforces IAM from the first HTTP request on. Every request then passes:

1. the service model check (``rehearsal.model_check``: patterns, lengths, enums) for JSON and
   REST-JSON protocols (Glue, Athena, Kinesis, Logs, Secrets Manager, QuickSight);
2. for a role's request, the role's own policies from the template (``rehearsal.iam``: resources
   and conditions, which moto leaves out); every decision is kept for ``GET /rehearsal/audit``;
3. moto itself (signature, identity, actions; S3 resources);
4. the stand-ins where moto runs nothing: Glue runs, Athena SQL, QuickSight's missing calls.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # before moto reads its settings

from rehearsal import iam, model_check  # noqa: E402
from rehearsal.athena import AthenaEngine  # noqa: E402
from rehearsal.glue import GlueRunner  # noqa: E402
from rehearsal.quicksight import NotFound, QuickSightStore  # noqa: E402
from rehearsal.template import ACCOUNT, REGION, Stack  # noqa: E402
from rehearsal.wire import Call, classify, service_model  # noqa: E402

MOTO_QUICKSIGHT = {"CreateDataSource", "UpdateDataSource", "CreateDataSet", "CreateIngestion", "CreateDashboard"}
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def moto_policy(statements: list[dict]) -> dict:
    """The copy of a role's policy moto enforces: moto matches non-S3 requests against the resource
    ``*`` and does not know ``s3:prefix``, so non-S3 statements get ``Resource: *`` and conditions
    go (both are enforced in full by ``rehearsal.iam`` in front of moto)."""
    out = []
    for st in statements:
        actions = st["Action"] if isinstance(st.get("Action"), list) else [st.get("Action")]
        s3 = [a for a in actions if a and a.startswith("s3:")]
        other = [a for a in actions if a and not a.startswith("s3:")]
        base = {k: v for k, v in st.items() if k not in ("Condition", "Action", "Resource", "Sid")}
        if s3:
            out.append({**base, "Action": s3, "Resource": st.get("Resource", "*")})
        if other:
            out.append({**base, "Action": other, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": out}


class Emulator:
    def __init__(self, stack: Stack, state: Path, endpoint: str):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.stack, self.state, self.endpoint = stack, state, endpoint
        self.statements: dict[str, list[dict]] = {}  # role name -> template statements
        self.audit: list[dict] = []
        self.admin_key = self._make_admin()
        self.glue = GlueRunner(endpoint=endpoint, region=REGION, workdir=state / "glue", credentials_for_role=self.assume, log=self.log)
        self.athena = AthenaEngine(endpoint=endpoint, region=REGION, workgroups={}, workdir=state / "athena", log=self.log)
        self.quicksight = QuickSightStore(read_secret=self.read_secret, log=self.log)
        self._assumed: dict[str, tuple[float, dict]] = {}

    def log(self, text: str) -> None:
        with open(self.state / "emulator.log", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    # -- identities --------------------------------------------------------------------------------

    def _make_admin(self) -> str:
        from moto.iam.models import iam_backends

        backend = iam_backends[ACCOUNT]["aws"]
        backend.create_user(REGION, "deployer")
        backend.put_user_policy("deployer", "administrator", json.dumps(ADMIN_POLICY))
        key = backend.create_access_key("deployer")
        (self.state / "admin.json").write_text(json.dumps({"aws_access_key_id": key.access_key_id, "aws_secret_access_key": key.secret_access_key}))
        return key.access_key_id

    def admin_client(self, service: str):
        import boto3

        creds = json.loads((self.state / "admin.json").read_text())
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint, **creds)

    def assume(self, role_arn: str) -> dict:
        """Temporary credentials of a role (Glue and QuickSight act with their roles)."""
        cached = self._assumed.get(role_arn)
        if cached and time.time() - cached[0] < 1800:
            return cached[1]
        c = self.admin_client("sts").assume_role(RoleArn=role_arn, RoleSessionName="rehearsal-service")["Credentials"]
        creds = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"], "aws_session_token": c["SessionToken"]}
        self._assumed[role_arn] = (time.time(), creds)
        return creds

    def caller(self, access_key: str | None) -> tuple[str | None, dict | None]:
        """(role name, credentials) of an assumed-role access key; (None, None) for the deployer."""
        from moto.sts.models import sts_backends

        for r in sts_backends[ACCOUNT]["aws"].assumed_roles:
            if r.access_key_id == access_key:
                creds = {"aws_access_key_id": r.access_key_id, "aws_secret_access_key": r.secret_access_key, "aws_session_token": r.session_token}
                return r.role_arn.split("/")[-1], creds
        return None, None

    def read_secret(self, arn: str) -> dict:
        return json.loads(self.admin_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])

    # -- WSGI --------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        try:
            return self._handle(environ, start_response)
        except Exception:
            import traceback

            self.log("[error] " + traceback.format_exc())
            raise

    def _handle(self, environ, start_response):
        from werkzeug.wrappers import Request

        request = Request(environ)
        body = request.get_data()
        path = request.path
        if path.startswith("/rehearsal/"):
            return self._control(request, body, start_response)
        call = classify(request.method, path, environ.get("QUERY_STRING", ""), request.headers, body)
        if call is not None:
            if call.service == "athena" and "QueryExecutionId" in call.params:
                call.params["__workgroup__"] = self.athena.workgroup_of(call.params["QueryExecutionId"])
                from rehearsal.wire import _json_resources

                call.resources = _json_resources("athena", call.operation, call.params)
                call.params.pop("__workgroup__")
            refused = self._check(call)
            if refused:
                return self._respond(start_response, *refused)
        if call is not None and call.service == "quicksight" and call.operation not in MOTO_QUICKSIGHT:
            status, headers, out = "200 OK", [], b""  # moto lacks the call: the stand-in answers alone
        else:
            status, headers, out = self._forward(environ, body)
            if call is None or not status.startswith("2"):
                start_response(status, headers)
                return [out]
        try:
            replaced = self._stand_in(call, out)
        except NotFound as e:
            return self._respond(start_response, call, 404, "ResourceNotFoundException", f"not found: {e}")
        if replaced is not None:
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "content-type")]
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(replaced)))]
            start_response("200 OK", headers)
            return [replaced]
        start_response(status, headers)
        return [out]

    def _forward(self, environ, body: bytes):
        import io

        environ = dict(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured = {}

        def start(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, list(headers)

        chunks = self.moto(environ, start)
        out = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        return captured["status"], captured["headers"], out

    def _check(self, call: Call):
        if call.protocol in ("json", "rest-json"):
            problems = model_check.operation_problems(service_model(call.service), call.operation, call.params) if not call.operation.startswith(("GET ", "POST ", "PUT ", "DELETE ")) else []
            if problems:
                self.log("[model] " + "; ".join(problems))
                return call, 400, "ValidationException", "; ".join(problems)
        if call.access_key == self.admin_key or call.action == "sts:GetCallerIdentity":
            return None
        role, _ = self.caller(call.access_key)
        if role is None:
            return None  # an unknown key: moto refuses it
        statements = self.statements.get(role, [])
        checks = [(call.action, call.resources)] + call.extra_checks
        for action, resources in checks:
            decision = iam.evaluate(statements, action, resources, call.context)
            self.audit.append({"role": role, "action": action, "resources": resources, "context": call.context,
                               "allowed": decision.allowed, "reason": decision.reason})  # fmt: skip
            if not decision.allowed:
                self.log(f"[iam] DENIED {role}: {decision.reason}")
                return call, 403, "AccessDenied" if call.service == "s3" else "AccessDeniedException", f"User: {role} is not authorized: {decision.reason}"
        return None

    def _respond(self, start_response, call: Call, status: int, code: str, message: str):
        reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}[status]
        if call.protocol in ("rest-xml", "query"):
            body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            if call.protocol == "query":
                body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>".encode()
            headers = [("Content-Type", "application/xml")]
        else:
            body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        start_response(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
        return [body]

    # -- stand-ins ---------------------------------------------------------------------------------

    def _stand_in(self, call: Call, out: bytes) -> bytes | None:
        svc, op, p = call.service, call.operation, call.params
        if svc == "glue" and op == "StartJobRun":
            run_id = json.loads(out)["JobRunId"]
            job = self._job(p["JobName"])
            self.glue.start(job, run_id, p.get("Arguments") or {})
            return None
        if svc == "glue" and op == "GetJobRun":
            data = json.loads(out)
            fields = self.glue.job_run_fields(p["RunId"])
            if fields:
                data["JobRun"].update(fields)
                data["JobRun"].pop("ErrorMessage", None) if "ErrorMessage" not in fields else None
            return json.dumps(data, default=str).encode()
        if svc == "athena" and op == "StartQueryExecution":
            query_id = json.loads(out)["QueryExecutionId"]
            _, creds = self.caller(call.access_key)
            self.athena.run(query_id, p, creds or json.loads((self.state / "admin.json").read_text()))
            return None
        if svc == "athena" and op == "GetQueryExecution":
            execution = self.athena.execution(p["QueryExecutionId"])
            return json.dumps({"QueryExecution": execution}).encode() if execution else None
        if svc == "athena" and op == "GetQueryResults":
            results = self.athena.results(p["QueryExecutionId"], p.get("NextToken"), p.get("MaxResults"))
            return json.dumps(results).encode() if results else None
        if svc == "quicksight":
            return json.dumps(self.quicksight.handle(op, p), default=str).encode()
        return None

    def _job(self, name: str) -> dict:
        for lid in self.stack.of_type("AWS::Glue::Job"):
            props = self.stack.props(lid)
            if props["Name"] == name:
                return props
        raise KeyError(name)

    # -- control endpoints for the harness -----------------------------------------------------------

    def _control(self, request, body: bytes, start_response):
        path = request.path
        if path == "/rehearsal/setup" and request.method == "POST":
            setup = json.loads(body)
            self.stack.overrides.update({tuple(k.split("|")): v for k, v in setup["overrides"].items()})
            self.statements = self.stack.role_statements()
            self.athena.workgroups = setup["workgroups"]
            data = {"ok": True}
        elif path == "/rehearsal/audit":
            data = self.audit
        elif path == "/rehearsal/glue":
            data = [vars(r) for r in self.glue.runs.values()]
        elif path == "/rehearsal/athena":
            data = [{"id": q.id, "state": q.state, "reused": q.reused, "bytes": q.bytes_scanned} for q in self.athena.queries.values()]
        elif path == "/rehearsal/quicksight":
            data = {"ingestions": list(self.quicksight.ingestions.values()), "data_sets": sorted(self.quicksight.sets),
                    "dashboards": {k: {"published": d["published"], "versions": [v["Status"] for v in d["versions"]],
                                       "sheets": [s["Name"] for s in d["versions"][d["published"] - 1]["Sheets"]],
                                       "errors": [e for v in d["versions"] for e in v.get("Errors", [])]}
                                   for k, d in self.quicksight.dashboards.items()}}  # fmt: skip
        else:
            data = {"error": f"no such control endpoint {path}"}
        out = json.dumps(data, default=str).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cdk-out", required=True)
    p.add_argument("--stack", default="Clickpipe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state", required=True)
    args = p.parse_args(argv)
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    endpoint = f"http://127.0.0.1:{args.port}"
    emulator = Emulator(Stack(Path(args.cdk_out), args.stack), state, endpoint)
    server = make_server("127.0.0.1", args.port, emulator, threaded=True)
    (state / "ready").write_text(endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
