"""The lake in an S3 bucket (``lake.LakeResource`` on AWS).

A module of its own so that the local code location never imports dagster-aws (about a second of
import in every process that loads the definitions, each run's among them).
"""

from __future__ import annotations

from dagster_aws.s3 import S3Resource

from clickpipe_core.lake_store import S3Store
from clickpipe_dagster.resources.lake import LakeResource


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
