"""Stand-in for Glue job runs (moto records StartJobRun and calls the run SUCCEEDED at once).

A run does what Glue does with the job the template defines: with the job role's credentials it
fetches the script and the ``--extra-py-files`` zips from S3, installs the ``--additional-python-
modules`` (S3 wheels with the ``--python-modules-installer-option``, e.g. ``--no-index``; pinned
names must already be in the runtime, as a package index is not rehearsed), and runs the script
with the template's DefaultArguments overlaid by the run's arguments plus Glue's own
(``--JOB_NAME``, ``--JOB_RUN_ID``) in an interpreter that has the runtime's libraries (Spark, boto3)
but not the project (no editable install: only the zips are on its path). The run is RUNNING until
the process exits, then SUCCEEDED or FAILED (exit status); its stdout and stderr go to
``<--custom-logGroup-prefix>/output``, stream = the run id, with the role's credentials, which is
where ``PipesCloudWatchMessageReader`` reads them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import venv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

DEFAULT_LOG_GROUP = "/aws-glue/jobs"
GLUE_ONLY_ARGUMENTS = ("--additional-python-modules", "--python-modules-installer-option", "--extra-py-files")


def runtime_python(root: Path) -> Path:
    """A Python 3.11 venv that sees this environment's third-party libraries (pyspark, boto3, duckdb,
    dagster-pipes stand in for Glue 5.0's) through a path entry, but none of its ``.pth`` files, so
    the project's editable-install finder is never installed: a module missing from a zip stays
    missing. Made once per rehearsal."""
    python = root / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=False).create(root)
        site = next((root / "lib").glob("python3.*/site-packages"))
        (site / "glue_runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@dataclass
class Run:
    job_name: str
    run_id: str
    state: str = "STARTING"
    error: str | None = None
    started: float = field(default_factory=time.time)
    completed: float | None = None
    log_group: str = DEFAULT_LOG_GROUP
    exit_code: int | None = None


class GlueRunner:
    def __init__(self, *, endpoint: str, region: str, workdir: Path, credentials_for_role, log=print):
        self.endpoint, self.region, self.workdir = endpoint, region, Path(workdir)
        self.credentials_for_role = credentials_for_role  # role ARN -> boto3 credential kwargs
        self.runs: dict[str, Run] = {}
        self.python = runtime_python(self.workdir / "glue-runtime")
        self._wheel_cache: dict[str, Path] = {}
        self._lock = threading.Lock()
        self.log = log

    def start(self, job: dict, run_id: str, run_arguments: dict) -> Run:
        args = {**(job.get("DefaultArguments") or {}), **(run_arguments or {})}
        run = Run(job["Name"], run_id, log_group=args.get("--custom-logGroup-prefix", DEFAULT_LOG_GROUP))
        self.runs[run_id] = run
        threading.Thread(target=self._run, args=(job, run, args), daemon=True, name=f"glue-{run_id}").start()
        return run

    def job_run_fields(self, run_id: str) -> dict | None:
        run = self.runs.get(run_id)
        if run is None:
            return None
        out = {"JobRunState": run.state, "LogGroupName": run.log_group, "ExecutionTime": int((run.completed or time.time()) - run.started)}
        if run.error:
            out["ErrorMessage"] = run.error
        if run.completed:
            out["CompletedOn"] = run.completed
        return out

    # -- a run -------------------------------------------------------------------------------------

    def _clients(self, role_arn: str):
        import boto3

        creds = self.credentials_for_role(role_arn)
        kw = dict(region_name=self.region, endpoint_url=self.endpoint, **creds)
        return boto3.client("s3", **kw), boto3.client("logs", **kw), creds

    @staticmethod
    def _split(url: str) -> tuple[str, str]:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return bucket, key

    def _fetch(self, s3, url: str, into: Path) -> Path:
        bucket, key = self._split(url)
        target = into / Path(key).name
        s3.download_file(bucket, key, str(target))
        return target

    def _modules(self, s3, spec: str, installer_options: str, into: Path) -> Path | None:
        """Install ``--additional-python-modules`` as Glue does; returns the directory to put on the path."""
        wheels, pinned = [], []
        for item in filter(None, (s.strip() for s in spec.split(","))):
            (wheels if item.startswith("s3://") else pinned).append(item)
        for pin in pinned:  # Glue would pip-install these from the index; here they must be the runtime's
            name, _, version = pin.partition("==")
            have = metadata.version(name)
            if version and have != version:
                raise RuntimeError(f"--additional-python-modules wants {pin}, the rehearsal runtime has {name}=={have}")
        if not wheels:
            return None
        files = [self._fetch(s3, w, into) for w in wheels]
        digest = hashlib.sha256(b"".join(hashlib.sha256(f.read_bytes()).digest() for f in files) + installer_options.encode()).hexdigest()[:16]
        with self._lock:
            if digest not in self._wheel_cache:
                target = self.workdir / "glue-modules" / digest
                done = subprocess.run(
                    [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(target),
                     *installer_options.split(), *map(str, files)],
                    capture_output=True, text=True,
                )  # fmt: skip
                if done.returncode:
                    raise RuntimeError(f"installing --additional-python-modules failed:\n{done.stderr[-3000:]}")
                self._wheel_cache[digest] = target
            return self._wheel_cache[digest]

    def _run(self, job: dict, run: Run, args: dict) -> None:
        run_dir = Path(tempfile.mkdtemp(prefix=f"glue-{run.run_id[:12]}-", dir=self.workdir))
        lines: list[tuple[int, str]] = []
        logs = None
        try:
            s3, logs, creds = self._clients(job["Role"])
            run.state = "RUNNING"
            script = self._fetch(s3, job["Command"]["ScriptLocation"], run_dir)
            path = [str(self._fetch(s3, u.strip(), run_dir)) for u in args.get("--extra-py-files", "").split(",") if u.strip()]
            modules = self._modules(s3, args.get("--additional-python-modules", ""), args.get("--python-modules-installer-option", ""), run_dir)
            if modules:
                path.insert(0, str(modules))
            argv = [str(script)]
            for k, v in {**args, "--JOB_NAME": run.job_name, "--JOB_RUN_ID": run.run_id}.items():
                argv += [k, str(v)]
            env = {
                "PATH": os.environ.get("PATH", ""), "HOME": str(run_dir), "JAVA_HOME": os.environ.get("JAVA_HOME", ""),
                "PYTHONPATH": os.pathsep.join(path), "PYSPARK_PYTHON": str(self.python),
                "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": creds["aws_session_token"], "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.endpoint, "CLICKPIPE_SPARK_DRIVER_MEMORY": "2g",
                # A run here is a few seconds of tiny data: the JVM's optimizing compiler (C2) would
                # spend more CPU compiling than it saves (about a fifth of the rehearsal's CPU).
                "CLICKPIPE_SPARK_CONF": "spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1",
            }  # fmt: skip
            proc = subprocess.Popen([str(self.python), *argv], cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = proc.communicate(timeout=60 * int(job.get("Timeout") or 2880))
            now = int(time.time() * 1000)
            lines = [(now, line) for line in out.splitlines() + err.splitlines() if line.strip()]
            run.exit_code = proc.returncode
            if proc.returncode:
                last = [line for line in err.splitlines() if line.strip()][-1:] or [f"exit status {proc.returncode}"]
                run.error = f"Script exited with status {proc.returncode}: {last[0][:500]}"
        except subprocess.TimeoutExpired:
            run.error, run.exit_code = "Job run timed out", -1
            run.state = "TIMEOUT"
        except Exception as e:  # fetching the code, installing modules: Glue fails the run
            run.error, run.exit_code = f"{type(e).__name__}: {e}", -1
            lines.append((int(time.time() * 1000), run.error))
        finally:
            if logs is not None and lines:
                self._put_logs(logs, run, lines)
            run.completed = time.time()
            if run.state != "TIMEOUT":
                run.state = "SUCCEEDED" if run.exit_code == 0 else "FAILED"
            self.log(f"[glue] {run.job_name} {run.run_id}: {run.state}{' - ' + run.error if run.error else ''}")

    def _put_logs(self, logs, run: Run, lines: list[tuple[int, str]]) -> None:
        group = f"{run.log_group}/output"
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=run.run_id)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        for i in range(0, len(lines), 500):
            batch = [{"timestamp": ts, "message": text[:200_000]} for ts, text in lines[i : i + 500]]
            logs.put_log_events(logGroupName=group, logStreamName=run.run_id, logEvents=batch)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()
