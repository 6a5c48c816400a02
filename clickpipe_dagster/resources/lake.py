"""The lake: raw, processed and quarantine zones with one key layout, locally or on S3."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from clickpipe_core.lake_store import LocalStore, ObjectInfo, S3Store
from clickpipe_dagster.metadata import path_url


class LakeResource(dg.ConfigurableResource, ABC):
    """Object storage for every zone. Assets and sensors talk keys; this decides where they live."""

    @abstractmethod
    def store(self) -> LocalStore | S3Store: ...

    @abstractmethod
    def console_url(self, key: str) -> str:
        """A link a person can open to see the object or folder."""

    @property
    def job_uri(self) -> str:
        """The lake as a Glue job argument (``file:///...`` or ``s3://bucket/prefix``)."""
        return self.store().uri

    def job_env(self) -> dict[str, str]:
        """Environment a local job process needs to reach this lake."""
        return {}

    def list(self, prefix: str) -> list[ObjectInfo]:
        return list(self.store().list(prefix))

    def upload(self, local_path: str | Path, key: str) -> None:
        self.store().put_file(local_path, key)


class LocalLakeResource(LakeResource):
    """A lake in a local directory (``$CLICKPIPE_HOME/lake`` by default)."""

    root: str

    def store(self) -> LocalStore:
        Path(self.root).mkdir(parents=True, exist_ok=True)
        return LocalStore(self.root)

    def console_url(self, key: str) -> str:
        return path_url(self.store().path(key), folder=key.endswith("/"))


class S3LakeResource(LakeResource):
    """A lake in an S3 bucket through dagster-aws's ``S3Resource`` (``endpoint_url`` honoured)."""

    s3: S3Resource  # a nested ConfigurableResource (ResourceDependency[...] rejects an S3Resource instance)
    bucket: str
    prefix: str = ""

    def store(self) -> S3Store:
        return S3Store(self.s3.get_client(), self.bucket, self.prefix)

    def console_url(self, key: str) -> str:
        region = self.s3.region_name or "us-east-1"
        full = f"{self.prefix.strip('/')}/{key}".lstrip("/")
        return f"https://s3.console.aws.amazon.com/s3/buckets/{self.bucket}?region={region}&prefix={full}"

    def job_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.s3.endpoint_url} if self.s3.endpoint_url else {}
