"""The lake's key layout on S3: the same keys as ``clickpipe_core/layout.py`` uses locally.

raw/users/ingest_date=YYYY-MM-DD/, raw/transactions/ingest_date=YYYY-MM-DD/, raw/clicks/YYYY/MM/DD/HH/
(Firehose), processed/<dataset>/..., quarantine/<dataset>/..., dedup/<dataset>/... (Job 1's dedup
state), .locks/ (leases of shared state), all under an optional prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickpipe_infra.repo import STAGING_DIR


@dataclass(frozen=True)
class LakeLayout:
    prefix: str = ""

    def key(self, *parts: str) -> str:
        """A key prefix ending in '/': key("raw", "clicks") -> "raw/clicks/"."""
        head = [self.prefix] if self.prefix else []
        return "/".join(head + [p.strip("/") for p in parts]) + "/"

    @property
    def raw(self) -> str:
        return self.key("raw")

    @property
    def processed(self) -> str:
        return self.key("processed")

    @property
    def processed_sessions(self) -> str:
        """The sessions table Job 2 derives into the processed zone (its only write to the lake)."""
        return self.key("processed", "sessions")

    @property
    def quarantine(self) -> str:
        return self.key("quarantine")

    @property
    def dedup(self) -> str:
        """Job 1's dedup state: the keys each raw partition delivered (transactions, clicks)."""
        return self.key("dedup")

    @property
    def locks(self) -> str:
        """The lake's locks of shared state (S3 leases created and taken over by conditional PUTs)."""
        return self.key(".locks")

    @property
    def staging(self) -> str:
        """Where Job 1 on Spark stages its output in the lake before checking and publishing it
        (the lake store's temporary area, never listed as data)."""
        return self.key(STAGING_DIR)

    @property
    def clicks_raw(self) -> str:
        return self.key("raw", "clicks")

    @property
    def firehose_errors(self) -> str:
        """Records Firehose could not deliver; outside raw/ so sensors never read them as input."""
        return self.key("errors", "firehose", "clicks")

    def lake_uri(self, bucket_name: str) -> str:
        """The ``--lake`` argument of the Glue jobs and the lake_uri of catalog.glue_table_input."""
        return f"s3://{bucket_name}/{self.prefix}" if self.prefix else f"s3://{bucket_name}"
