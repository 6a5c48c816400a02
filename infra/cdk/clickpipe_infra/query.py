"""Athena over the Glue Data Catalog: the database and tables come from clickpipe_core.catalog.

``catalog.glue_table_input`` returns the boto3 ``TableInput`` dict that the Dagster side also uses;
:func:`cfn_table_input` turns it into the CloudFormation L1 property objects key by key and fails on
any key it does not know, so nothing in the catalog definition is silently dropped.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from constructs import Construct

from clickpipe_infra.repo import catalog
from clickpipe_infra.settings import Settings
from clickpipe_infra.storage import Storage

_P = glue.CfnTable

# boto3 TableInput key -> (L1 keyword, converter). Converters get the value and return the L1 value.
_COLUMN_KEYS = {"Name": "name", "Type": "type", "Comment": "comment", "Parameters": "parameters"}


def _column(d: dict) -> glue.CfnTable.ColumnProperty:
    return _P.ColumnProperty(**_convert(d, {k: (v, None) for k, v in _COLUMN_KEYS.items()}, "Column"))


def _serde(d: dict) -> glue.CfnTable.SerdeInfoProperty:
    keys = {"Name": ("name", None), "SerializationLibrary": ("serialization_library", None), "Parameters": ("parameters", None)}
    return _P.SerdeInfoProperty(**_convert(d, keys, "SerdeInfo"))


def _storage_descriptor(d: dict) -> glue.CfnTable.StorageDescriptorProperty:
    keys = {
        "Columns": ("columns", lambda cols: [_column(c) for c in cols]),
        "Location": ("location", None),
        "InputFormat": ("input_format", None),
        "OutputFormat": ("output_format", None),
        "Compressed": ("compressed", None),
        "NumberOfBuckets": ("number_of_buckets", None),
        "SerdeInfo": ("serde_info", _serde),
        "BucketColumns": ("bucket_columns", None),
        "Parameters": ("parameters", None),
        "StoredAsSubDirectories": ("stored_as_sub_directories", None),
    }
    return _P.StorageDescriptorProperty(**_convert(d, keys, "StorageDescriptor"))


_TABLE_KEYS = {
    "Name": ("name", None),
    "Description": ("description", None),
    "Owner": ("owner", None),
    "TableType": ("table_type", None),
    "Parameters": ("parameters", None),
    "PartitionKeys": ("partition_keys", lambda cols: [_column(c) for c in cols]),
    "StorageDescriptor": ("storage_descriptor", _storage_descriptor),
    "Retention": ("retention", None),
    "ViewOriginalText": ("view_original_text", None),
    "ViewExpandedText": ("view_expanded_text", None),
}


def _convert(d: dict, keys: dict, what: str) -> dict:
    unknown = sorted(set(d) - set(keys))
    if unknown:
        raise ValueError(f"{what}: no CloudFormation mapping for {', '.join(unknown)}")
    out = {}
    for k, v in d.items():
        name, conv = keys[k]
        out[name] = conv(v) if conv else v
    return out


def cfn_table_input(table_input: dict) -> glue.CfnTable.TableInputProperty:
    """A boto3/Glue-API ``TableInput`` dict as the CloudFormation L1 property."""
    return _P.TableInputProperty(**_convert(table_input, _TABLE_KEYS, "TableInput"))


class Query(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, storage: Storage, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=catalog.GLUE_DATABASE, description="clickpipe processed zone (Parquet), tables with partition projection"
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for ds in catalog.processed_tables():
            table = glue.CfnTable(
                self,
                f"Table{ds.name.title()}",
                catalog_id=stack.account,
                database_name=catalog.GLUE_DATABASE,
                table_input=cfn_table_input(catalog.glue_table_input(ds, storage.lake_uri)),
            )
            table.node.add_dependency(self.database)
            self.tables[ds.name] = table

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{stack.stack_name.lower()}",
            description="clickpipe ad-hoc SQL over the processed zone",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff,
                requester_pays_enabled=False,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="Athena engine version 3"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=storage.athena_results.s3_url_for_object("results/"),
                    expected_bucket_owner=stack.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )

    @property
    def workgroup_name(self) -> str:
        return self.workgroup.ref
