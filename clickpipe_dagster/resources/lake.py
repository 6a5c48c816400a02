"""The lake: raw, processed and quarantine zones with one key layout, locally or on S3."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

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
