"""Asset checks of the processed assets.

Glue Job 1 evaluates the data checks on the files it publishes (``clickpipe_core/checks.py``) and
reports them through Pipes; declaring them here makes them show up as checks in the UI. One more
is evaluated here, from what the job reported and the quarantine rows it wrote: a partition whose
quarantine share is above its dataset's limit, or that had a file rejected whole, fails
``quarantine_share`` - a blocking check, so nothing downstream is built from it until it is fixed.
"""

from __future__ import annotations

import dagster as dg

from clickpipe_core.checks import CHECK_DESCRIPTIONS, check_names
from clickpipe_core.contracts import Dataset
from clickpipe_dagster import metadata

QUARANTINE_SHARE = "quarantine_share"
# Quarantine reasons that mean a whole file (or the rest of a damaged object) could not be read.
FILE_REJECTIONS = {
    "wrong_header": "rejected whole",
    "corrupt_object": "damaged (the lines after the damage were rejected)",
    "hidden_file_name": "not read (its name starts with '.' or '_')",
}
BLOCKING = {"conservation", QUARANTINE_SHARE}


def processed_check_specs(ds: Dataset, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(name, asset=asset_key, description=CHECK_DESCRIPTIONS[name], blocking=name in BLOCKING)
        for name in check_names(ds)
    ]
    specs.append(
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=asset_key,
            blocking=True,
            description=(
                f"At most {ds.max_quarantine_share:.0%} of a partition's records are quarantined, and no file is "
                "rejected whole (a wrong header, a hidden file name, a damaged object): otherwise the run fails and names the file."
            ),
        )
    )
    return specs


def file_rejections(quarantined) -> list[tuple[str, str, str]]:
    """(file, reason, detail) for each file the quarantine rows say was rejected for a file-level reason."""
    if quarantined is None or not quarantined.num_rows:
        return []
    seen: dict[tuple[str, str], str] = {}
    for row in quarantined.select(["reason", "detail", "source_file"]).to_pylist():
        if row["reason"] in FILE_REJECTIONS:
            seen.setdefault((row["source_file"], row["reason"]), row["detail"])
    return [(f, r, d) for (f, r), d in sorted(seen.items())]


def quarantine_share_check(context, ds: Dataset, results: dict[str, dict], quarantined: dict) -> dg.AssetCheckResult:
    """One result for the run's partitions (``results``: day -> the job's numbers)."""
    rows, problems = [], []
    for day, r in results.items():
        n_in, n_q = r.get("rows_in", 0), r.get("rows_quarantined", 0)
        rejected = file_rejections(quarantined.get(day))
        too_many = n_in > 0 and n_q / n_in > ds.max_quarantine_share
        rows.append((day, n_in, n_q, metadata.share(n_q, n_in), ", ".join(f.rsplit("/", 1)[-1] for f, _, _ in rejected) or "none"))
        problems += [f"{day}: {f} {FILE_REJECTIONS[reason]} ({reason}): {detail}" for f, reason, detail in rejected]
        if too_many:
            problems.append(
                f"{day}: {n_q:,} of {n_in:,} records quarantined ({metadata.share(n_q, n_in)}), more than the "
                f"{ds.max_quarantine_share:.0%} allowed for {ds.name}"
            )
    for problem in problems:
        context.log.error(problem)
    return dg.AssetCheckResult(
        check_name=QUARANTINE_SHARE,
        passed=not problems,
        description="; ".join(problems) if problems else None,
        metadata={
            "partitions": metadata.table(["ingest day", "records", "quarantined", "share", "files rejected"], rows),
            "limit": f"{ds.max_quarantine_share:.0%}",
        },
    )
