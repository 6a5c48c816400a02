"""clickpipe's kernel: everything the pipeline means, with no Dagster in it.

Contracts and types, the lake's layout and storage, Job 1's cleaning rules and checks, the marts
and their PostgreSQL loader, the click generator and stream producers. The Glue jobs
(``glue_scripts``), the Lambda generator and the Dagster code location (``clickpipe_dagster``) all
build on this package and never on each other's internals; Glue and Lambda ship it as it is.
"""
