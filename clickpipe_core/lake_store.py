"""Object storage with the same behaviour on a local directory and on S3.

Both stores speak keys (``raw/users/ingest_date=2026-11-01/users.csv``), list objects with their
size and modification time, and publish atomically: a reader sees the old object or the new
one, never half of one (a local ``os.replace``; an S3 PUT).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from clickpipe_core.errors import EnvironmentFault

# Staging a killed run left behind is swept by the next run that stages: at once when its owner
# (named in the entry: host, pid, process start) is provably gone, after this long otherwise (an
# entry of another host, or of an older release, whose owner cannot be checked from here).
STALE_STAGING_SECONDS = 24 * 3600
# Writers of shared state (the users snapshot, the dedup state) hold the lake's lock of that state
# (``lock``). Locally an fcntl lock on a file under ``.locks/`` (released by the kernel when its
# holder dies); on S3 a lease object created with ``If-None-Match: *`` and taken over, once expired,
# with ``If-Match`` on the expired lease's ETag, so that exactly one writer wins either way. A live
# holder renews its lease every third of its length, so a run may take any time while a killed
# holder blocks the others for one lease at most.
LOCKS = ".locks"
LOCK_LEASE_SECONDS = 300.0
LOCK_POLL_SECONDS = 0.5


class LakeLockLost(EnvironmentFault):
    """The holder of an S3 lease could not renew it in time and another writer took it over (the
    run stalled: the machine, not the data); the message says to run the partition again."""


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (a stable token), or None when there is no such process."""
    try:
        import psutil
    except ImportError:  # a minimal runtime: existence only (pid reuse then keeps an entry longer)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{proc.create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _host() -> str:
    return socket.gethostname().replace("~", "-").replace("/", "-") or "localhost"


_OWNER: tuple[int, str] | None = None  # (pid, "<host>~<pid>~<start>") of this process, once known


def _owner() -> str:
    """This process as ``<host>~<pid>~<start>``: read once per process (a fork has another pid),
    not per object written (it reads /proc: ~0.3 ms)."""
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or _OWNER[0] != pid:
        _OWNER = (pid, f"{_host()}~{pid}~{_process_start(pid)}")
    return _OWNER[1]


def owned_name(suffix: str = "") -> str:
    """A fresh staging entry name that says who owns it: ``<uuid>~<host>~<pid>~<start><suffix>``."""
    return f"{uuid.uuid4().hex}~{_owner()}{suffix}"


def is_stale(entry: Path, *, now: float | None = None, max_age: float = STALE_STAGING_SECONDS) -> bool:
    """A staging entry whose owner is gone: it names this host and a process that no longer runs
    (or a newer process under the same pid), or it is older than ``max_age`` and its owner cannot
    be checked from here. Entries of live runs are never stale, however old."""
    parts = entry.name.split("~")
    if len(parts) == 4 and parts[1] == _host() and parts[2].isdigit():
        start = parts[3].split(".part")[0] if parts[3].endswith(".part") else parts[3]
        alive = _process_start(int(parts[2]))
        return alive is None or (alive != "?" and start != "?" and alive != start)
    try:
        age = (time.time() if now is None else now) - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > max_age


def sweep(directory: Path, *, prefix: str = "", max_age: float = STALE_STAGING_SECONDS) -> list[str]:
    """Remove the stale staging entries (``is_stale``) directly under ``directory``; their names."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        path = Path(entry.path)
        if not entry.name.startswith(prefix) or not is_stale(path, max_age=max_age):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(entry.name)
    return removed


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float  # seconds since the epoch


class LocalStore:
    """A lake in a directory; temporary files live under ``_tmp/`` and are never listed. Each
    names its owner, and whatever a killed run left there is swept by the next run that stages
    (``sweep_staging``)."""

    TMP = "_tmp"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        # Directories of keys written before (resolved inside the root, and made): the next key
        # there skips the resolve and the mkdirs (the local Firehose writes ~300 objects a day).
        self._made_dirs: set[str] = set()

    @property
    def uri(self) -> str:
        return self.root.as_uri()

    @property
    def is_local(self) -> bool:
        """Keys are files on this machine: readers open ``path(key)`` in place, no copy."""
        return True

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if p != self.root and self.root not in p.parents:
            raise ValueError(f"key {key!r} escapes the lake root")
        return p

    def url(self, key: str) -> str:
        return self.path(key).as_uri()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.path(prefix.rstrip("/")) if prefix.rstrip("/") else self.root
        if base.is_file():
            st = base.stat()
            yield ObjectInfo(prefix, st.st_size, st.st_mtime)
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_tmp")))
            for name in sorted(filenames):  # dot files too, as S3 lists them
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:  # deleted while we walked
                    continue
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    yield ObjectInfo(key, st.st_size, st.st_mtime)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local path for reading the object (the object itself, here)."""
        p = self.path(key)
        if not p.is_file():
            raise FileNotFoundError(f"no object at {self.url(key)}")
        yield p

    def sweep_staging(self, *, max_age: float = STALE_STAGING_SECONDS) -> list[str]:
        """Remove what killed runs left under ``_tmp/`` (never a live run's entries); their names."""
        return sweep(self.root / self.TMP, max_age=max_age)

    def staging_dir(self) -> Path:
        self.sweep_staging()
        d = self.root / self.TMP / owned_name()
        d.mkdir(parents=True)
        return d

    def _publish(self, write, key: str) -> None:
        """``write`` a temporary file under ``_tmp/``, then rename it over the key's file (atomic); a
        failure removes the temporary file."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / self.TMP / owned_name(".part")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(tmp)
            os.replace(tmp, dest)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def put_file(self, local: str | os.PathLike, key: str, *, move: bool = False) -> None:
        self._publish(lambda tmp: shutil.move(str(local), tmp) if move else shutil.copyfile(local, tmp), key)

    def put_bytes(self, data: bytes, key: str) -> None:
        folder, _, name = key.rpartition("/")
        if folder in self._made_dirs and name not in ("", ".", ".."):
            tmp = os.path.join(self.root, self.TMP, owned_name(".part"))
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, os.path.join(self.root, key))
                return
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                if not isinstance(e, FileNotFoundError):
                    raise
                self._made_dirs.discard(folder)  # removed since: the full way below makes it again
        self._publish(lambda tmp: tmp.write_bytes(data), key)
        if folder and all(part not in ("", ".", "..") for part in folder.split("/")):
            self._made_dirs.add(folder)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the lake's lock ``name`` (blocking): an exclusive ``fcntl`` lock on
        ``.locks/<name>.lock``, which the kernel releases when the holder exits or is killed."""
        import fcntl

        path = self.root / LOCKS / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class S3Store:
    """A lake in an S3 bucket (optionally under a key prefix); any S3 API through the client."""

    def __init__(self, client, bucket: str, prefix: str = ""):
        self.client, self.bucket = client, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def is_local(self) -> bool:
        return False

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"][len(self.prefix) :], obj["Size"], obj["LastModified"].timestamp())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="clickpipe-") as d:
            p = Path(d) / key.rsplit("/", 1)[-1]
            self.client.download_file(self.bucket, self.prefix + key, str(p))
            yield p

    STAGING_PREFIX = "clickpipe-staging-"

    def staging_dir(self) -> Path:
        """A local directory (the machine's temporary directory), swept like a local lake's."""
        root = Path(tempfile.gettempdir())
        sweep(root, prefix=self.STAGING_PREFIX)
        d = root / (self.STAGING_PREFIX + owned_name())
        d.mkdir()
        return d

    def put_file(self, local: str | os.PathLike, key: str, *, move: bool = False) -> None:
        self.client.upload_file(str(local), self.bucket, self.prefix + key)
        if move:
            os.unlink(local)

    def put_bytes(self, data: bytes, key: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    @contextlib.contextmanager
    def lock(self, name: str, *, lease_seconds: float = LOCK_LEASE_SECONDS, poll_seconds: float = LOCK_POLL_SECONDS) -> Iterator[None]:
        """Hold the lake's lock ``name`` (blocking) with S3 conditional writes: the lease object
        ``.locks/<name>.lock`` is created with ``If-None-Match: *`` (only one PUT can create it); a
        lease past its expiry (its holder was killed) is taken over with ``If-Match`` on its ETag
        (only one of several waiters replaces it). While the body runs, a thread renews the lease
        (``If-Match`` on the ETag it last wrote) every third of ``lease_seconds``; if another writer
        took it over meanwhile (the holder stalled past its expiry), leaving the body raises
        ``LakeLockLost``. The holder deletes its lease when done."""
        import json
        import threading

        from botocore.exceptions import ClientError

        key = self.prefix + f"{LOCKS}/{name}.lock"
        owner = owned_name()

        def refused(e: ClientError) -> bool:
            return e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")

        def lease() -> bytes:
            return json.dumps({"owner": owner, "expires": time.time() + lease_seconds}).encode()

        while True:
            try:
                etag = self.client.put_object(Bucket=self.bucket, Key=key, Body=lease(), IfNoneMatch="*")["ETag"]
                break
            except ClientError as e:
                if not refused(e):
                    raise
            try:
                held = self.client.get_object(Bucket=self.bucket, Key=key)
                expires = json.loads(held["Body"].read()).get("expires", 0)
                if expires < time.time():
                    etag = self.client.put_object(Bucket=self.bucket, Key=key, Body=lease(), IfMatch=held["ETag"])["ETag"]
                    break
            except ClientError as e:
                if not refused(e):
                    raise
                continue  # released or taken over meanwhile: try again at once
            except ValueError:  # not a lease of ours: wait for it to expire by age
                pass
            time.sleep(poll_seconds)

        done, lost = threading.Event(), []

        def renew(etag: str) -> None:
            while not done.wait(lease_seconds / 3):
                try:
                    etag = self.client.put_object(Bucket=self.bucket, Key=key, Body=lease(), IfMatch=etag)["ETag"]
                except ClientError as e:
                    if refused(e):
                        lost.append(time.time())
                        return
                    # a passing S3 error: try again at the next beat, well before the lease expires

        renewer = threading.Thread(target=renew, args=(etag,), name=f"lease-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with contextlib.suppress(ClientError):
                held = self.client.get_object(Bucket=self.bucket, Key=key)
                if json.loads(held["Body"].read()).get("owner") == owner:
                    self.client.delete_object(Bucket=self.bucket, Key=key)
        if lost:
            raise LakeLockLost(
                f"the lake lock {name!r} ({self.url(f'{LOCKS}/{name}.lock')}) was taken over by another writer: this run "
                f"stalled past its {lease_seconds:.0f} s lease; run the partition again"
            )


def open_store(uri: str, *, s3_client=None) -> LocalStore | S3Store:
    """A store from a URI: ``file:///path``, a plain path, or ``s3://bucket/prefix``."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or None)
        return S3Store(s3_client, parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme in ("", "file"):
        return LocalStore(parsed.path if parsed.scheme else uri)
    raise ValueError(f"unsupported lake URI {uri!r}: use a path, file:///path or s3://bucket/prefix")
