"""Glue job entry points and the pure, engine-neutral code they share.

Nothing here imports Dagster except through ``dagster_pipes`` (which Glue installs with
``--additional-python-modules``), so the same files run on Glue workers and on a laptop.
"""
