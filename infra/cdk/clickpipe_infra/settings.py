"""Deployment choices, read from CDK context (``cdk.json`` or ``-c key=value``), with safe defaults.

Every knob is optional; the defaults give the production shape (Multi-AZ RDS, on-demand Kinesis,
deletion protection). A dev deploy turns the expensive ones down, e.g.
``cdk deploy -c multi_az=false -c rds_instance_type=t4g.micro``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from constructs import Construct


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    # RDS PostgreSQL
    multi_az: bool = True
    rds_instance_type: str = "t4g.medium"
    rds_allocated_storage_gib: int = 20
    rds_max_allocated_storage_gib: int = 100
    rds_backup_retention_days: int = 7
    # Kinesis: 0 shards = on-demand capacity mode
    kinesis_shards: int = 0
    # Click generator Lambda on an EventBridge schedule
    generator_schedule_enabled: bool = True
    generator_rate_minutes: int = 1
    generator_events_per_run: int = 500
    # Firehose buffering into raw/clicks/
    firehose_buffer_mib: int = 64
    firehose_buffer_seconds: int = 300
    # Lake and lifecycle
    lake_prefix: str = ""  # "" = the zones sit at the bucket root (raw/, processed/, quarantine/)
    raw_ia_days: int = 30
    raw_glacier_days: int = 90
    quarantine_expire_days: int = 90
    athena_results_expire_days: int = 30
    pipes_expire_days: int = 14
    log_retention_days: int = 90
    # Athena
    athena_bytes_scanned_cutoff: int = 10 * 1024**3
    # QuickSight VPC connection (needs a QuickSight Enterprise subscription in the account)
    quicksight: bool = True
    # The QuickSight user or group that owns the data source, data sets and dashboard (Dagster on ECS)
    quicksight_principal_arn: str = ""
    # Alarms
    alarm_email: str = ""
    glue_run_alarm_minutes: int = 60  # a Glue run longer than this alarms (the jobs time out at 2 h)

    @classmethod
    def from_context(cls, scope: Construct) -> "Settings":
        values = {}
        for f in fields(cls):
            raw = scope.node.try_get_context(f.name)
            if raw is None:
                continue
            if f.type == "bool":
                values[f.name] = _bool(raw)
            elif f.type == "int":
                values[f.name] = int(raw)
            else:
                values[f.name] = str(raw)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.kinesis_shards < 0:
            raise ValueError("kinesis_shards must be >= 0 (0 = on-demand)")
        if not 1 <= self.firehose_buffer_mib <= 128:
            raise ValueError("firehose_buffer_mib must be within 1..128")
        if not 0 <= self.firehose_buffer_seconds <= 900:
            raise ValueError("firehose_buffer_seconds must be within 0..900")
        if not 0 < self.raw_ia_days < self.raw_glacier_days:
            raise ValueError("need 0 < raw_ia_days < raw_glacier_days")
        if self.raw_ia_days < 30:
            raise ValueError("S3 requires raw_ia_days >= 30 for STANDARD_IA")
        if not 0 < self.glue_run_alarm_minutes < 120:
            raise ValueError("glue_run_alarm_minutes must be within 1..119 (the jobs time out at 120)")
        if self.lake_prefix.startswith("/") or self.lake_prefix.endswith("/"):
            raise ValueError("lake_prefix is a key prefix without leading or trailing '/'")
