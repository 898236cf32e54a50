"""The `remote_step` mark: a forge function (first argument the project) that runs on compute.remote when it
is set (forge.remote.run), and the Pulls that copy its files back. Kept apart from forge.remote.steps so
that neither forge.remote.run nor the steps' own modules import each other in a circle.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from forge.remote.steps import ON_REMOTE


@dataclass(frozen=True)
class Pull:
    """A file or directory a step writes, copied back after it: `file` and `dir` land whole (a directory is
    swapped in), `merge` adds files to what is here (tracker logs)."""

    rel: str
    kind: str = "file"


def remote_step(pulls):
    """Mark a step. `pulls(project, result)` lists the Pulls to copy back after it ran remotely."""

    def wrap(fn):
        @functools.wraps(fn)
        def dispatch(project, *args, **kwargs):
            if project.config.compute.remote and not os.environ.get(ON_REMOTE):
                from forge.remote.run import run_remote

                return run_remote(project, fn, pulls, args, kwargs)
            return fn(project, *args, **kwargs)

        return dispatch

    return wrap
