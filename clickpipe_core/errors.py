"""The errors the pipeline reports to people: each message says what is wrong and what to do.

They are not bugs: the entry points turn them into one clear line (exit status 2 by hand, a Pipes
error under Dagster) and the Dagster assets into a failed run with the same message.
"""

from __future__ import annotations

import errno
import os
import re


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


class EnvironmentFault(ClickpipeError):
    """The machine, not the data: a path that cannot be written (read-only, full, no permission).
    The message names the path and what to do."""


# errno -> (what is wrong with the path, what to do)
_FAULTS = {
    errno.EROFS: ("is on a read-only file system", "remount it read-write, or point {setting} at a writable directory"),
    errno.EACCES: ("is not writable by this user (permission denied)", "give this user write access, or point {setting} at a directory it owns"),
    errno.EPERM: ("is not writable by this user (operation not permitted)", "give this user write access, or point {setting} at a directory it owns"),
    errno.ENOSPC: ("has no space left on its device", "free some space there, or point {setting} at a disk with room"),
    errno.EDQUOT: ("is over its disk quota", "free some space there, or point {setting} at a disk with room"),
    errno.EFBIG: ("cannot grow: a file size limit was reached", "raise the limit (ulimit -f), or point {setting} elsewhere"),
    errno.EXDEV: (
        "is on another file system than the lake's staging area (_tmp/ at the lake's root)",
        "keep the whole lake on one file system, so that publishing a file stays one atomic rename",
    ),
}
_PATH_IN_MESSAGE = re.compile(r"""["'](/[^"']+)["']""")


def environment_fault(e: OSError, path: str | os.PathLike | None = None, *, setting: str = "CLICKPIPE_HOME") -> EnvironmentFault:
    """One sentence for an OSError of the environment: the path (``path`` when given: the directory
    the user chose, rather than a file inside it), what is wrong, what to do."""
    code, where = e.errno, path or e.filename
    if e.filename2 and not path:
        # A rename: the destination's directory is the one at fault when it cannot be written (into
        # a directory mounted read-only, a rename even fails as a cross-device one first).
        parent = os.path.dirname(os.fspath(e.filename2))
        if not os.access(parent, os.W_OK):
            where = parent
            if code == errno.EXDEV:
                code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
    problem, advice = _FAULTS.get(code, (f"cannot be written ({e.strerror or e})", "check the path, or point {setting} elsewhere"))
    return EnvironmentFault(f"{os.fspath(where) if where else 'a path'} {problem}: {advice.format(setting=setting)}")


def recognize_environment_fault(e: BaseException, *, setting: str = "CLICKPIPE_HOME") -> EnvironmentFault | None:
    """An EnvironmentFault for an error of the environment, whatever raised it (an OSError, or an
    engine's own error that quotes the operating system's words); None for anything else."""
    if isinstance(e, EnvironmentFault):
        return e
    if isinstance(e, OSError) and e.errno in _FAULTS:
        return environment_fault(e, setting=setting)
    text = str(e)
    for code in _FAULTS:
        if os.strerror(code) in text:
            found = _PATH_IN_MESSAGE.search(text)
            return environment_fault(OSError(code, os.strerror(code), found.group(1) if found else None), setting=setting)
    return None
