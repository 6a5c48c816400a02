"""Object storage with the same behaviour on a local directory and on S3.

Both stores speak keys (``raw/users/ingest_date=2026-11-01/users.csv``), list objects with their
size and modification time, and publish atomically: a reader sees the old object or the new
one, never half of one (a local ``os.replace``; an S3 PUT).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float  # seconds since the epoch


class LocalStore:
    """A lake in a directory; temporary files live under ``_tmp/`` and are never listed."""

    TMP = "_tmp"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

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
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
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

    def staging_dir(self) -> Path:
        d = self.root / self.TMP / uuid.uuid4().hex
        d.mkdir(parents=True)
        return d

    def put_file(self, local: str | os.PathLike, key: str, *, move: bool = False) -> None:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.root / self.TMP / f"{uuid.uuid4().hex}.part"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(local), tmp)
        else:
            shutil.copyfile(local, tmp)
        os.replace(tmp, dest)

    def put_bytes(self, data: bytes, key: str) -> None:
        tmp = self.root / self.TMP / f"{uuid.uuid4().hex}.part"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


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

    def staging_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="clickpipe-staging-"))

    def put_file(self, local: str | os.PathLike, key: str, *, move: bool = False) -> None:
        self.client.upload_file(str(local), self.bucket, self.prefix + key)
        if move:
            os.unlink(local)

    def put_bytes(self, data: bytes, key: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)


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
