"""Errors meant for people, as one line: what every ``clickpipe`` command does with them.

A ``ClickpipeError`` (bad input, an unreachable warehouse...) and a fault of the environment (a
read-only or full disk, a missing permission, from Python or quoted by an engine) end a command
with ``Error: <one sentence>`` and exit status 1, never a traceback. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import click

from clickpipe_core.errors import ClickpipeError, recognize_environment_fault


# Where a command writes, when it is not under CLICKPIPE_HOME: what the advice names.
WRITES_TO = {"generate": "--out"}


class ClearErrorsGroup(click.Group):
    """A click group whose commands report errors meant for people as one line."""

    def invoke(self, ctx: click.Context):
        # (No warning filter here: the definitions use Dagster's beta parameters quietly where they
        # use them, and a command that needs no Dagster must not import it: `clickpipe query`.)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ClickpipeError as e:
            raise click.ClickException(str(e)) from None
        except Exception as e:
            fault = recognize_environment_fault(e, setting=WRITES_TO.get(ctx.invoked_subcommand, "CLICKPIPE_HOME"))
            if fault is None:
                raise
            raise click.ClickException(str(fault)) from None
