"""The AWS rehearsal: the whole ``CLICKPIPE_ENV=aws`` path on emulators, under the stack's own IAM.

``make aws-rehearsal`` (part of ``make test``) synthesizes the CDK app, "deploys" its template onto
a moto server with IAM enforcement on, and runs the asset graph from raw files and simulated clicks
to the QuickSight dashboard, every component with the credentials of its own role. Stand-ins run
what the emulator only records (Glue runs, Firehose delivery, Lambda, Athena SQL, QuickSight's
missing calls, RDS), each honouring the real protocol; see ``README.md`` in this folder.
"""
