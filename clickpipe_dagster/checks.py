"""Asset check specs of the processed assets.

The checks are evaluated by Glue Job 1 on the files it publishes (``clickpipe_core/checks.py``) and
reported through Pipes; declaring them here makes them show up as checks in the UI.
"""

import dagster as dg

from clickpipe_core.contracts import Dataset
from clickpipe_core.checks import CHECK_DESCRIPTIONS, check_names


def processed_check_specs(ds: Dataset, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=CHECK_DESCRIPTIONS[name], blocking=name == "conservation")
        for name in check_names(ds)
    ]
