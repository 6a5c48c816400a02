"""Asset keys: each carries its zone as a prefix (``raw/clicks``, ``processed/clicks``,
``athena/clicks``, ``marts/revenue_daily``, ``dashboard/...``), so the UI's catalog shows the
lake's and the warehouse's structure. Every asset module takes its keys from here."""

from __future__ import annotations

import dagster as dg

from clickpipe_core.marts import Mart

RAW, PROCESSED, ATHENA, MARTS, DASHBOARD = "raw", "processed", "athena", "marts", "dashboard"


def raw(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([RAW, dataset])


def processed(dataset: str) -> dg.AssetKey:
    return dg.AssetKey([PROCESSED, dataset])


def athena(table: str) -> dg.AssetKey:
    return dg.AssetKey([ATHENA, table])


def mart(m: Mart) -> dg.AssetKey:
    """The mart's table ``marts.<name>``; Glue Job 2 reports it by the same path (``Mart.asset_key``)."""
    return dg.AssetKey.from_escaped_user_string(m.asset_key)


def dashboard(name: str) -> dg.AssetKey:
    return dg.AssetKey([DASHBOARD, name])
