"""The errors the pipeline reports to people: each message says what is wrong and what to do.

They are not bugs: the entry points turn them into one clear line (exit status 2 by hand, a Pipes
error under Dagster) and the Dagster assets into a failed run with the same message.
"""

from __future__ import annotations


class ClickpipeError(Exception):
    """Base of every error whose message is meant for the user, not a traceback."""


class JobInputError(ClickpipeError):
    """Bad input that stops the whole partition; the message says what and how to fix it."""


class WarehouseError(ClickpipeError):
    """The warehouse cannot be reached or refused the load; the message says what to fix."""


class ProcessedZoneError(ClickpipeError):
    """The processed zone cannot be read (a damaged or foreign file); the message says which and what to do."""


class MartBuildError(ClickpipeError):
    """A mart's SQL failed on processed files that read fine (not the files' fault); says which mart and days."""
