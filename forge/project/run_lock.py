"""The run lock: one command at a time may change what a project trains or evaluates on.

An agent run, `forge flywheel`, train, pretrain and eval hold the lock while they run; so do
promote, clean and `forge model import` over the base, and config edits take it for their write.
Another such command is refused at once, with one line naming the holder (command, pid, host,
run id, since when) and how to wait (`--wait`) or stop it. Commands that only add data (import,
generate, patch) take the file locks of forge.locks and proceed; read-only commands never look.

The lock is an `fcntl.flock` on output/.run.lock, held by the process for as long as it runs:
the kernel drops it when the process dies, so a kill -9 leaves no lock. Beside it,
output/run_lock.json says who holds it. A holder file whose process is gone on this host is
taken over with a one-line note; one written on another host is never taken over silently.
Reentrant in one process: the agent's train and eval run inside its own lock.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from forge.atomic import write_json_atomic
from forge.clock import now
from forge.errors import ForgeError
from forge.project.project import RUN_HOLDER_FILE, RUN_LOCK_FILE
from forge.project.records import process_alive

POLL_S = 0.5

# --wait, set by the CLI for the command it runs: wait for the holder instead of refusing
wait_for_holder: contextvars.ContextVar[bool] = contextvars.ContextVar("wait_for_holder", default=False)
_held: dict[str, list] = {}  # output dir -> [fd, depth] held by this process


class ProjectBusy(ForgeError):
    """Another command holds the project's run lock."""


def holder(output: Path) -> dict | None:
    """Who holds (or last held) the run lock, from output/run_lock.json; None when nobody wrote one."""
    try:
        return json.loads((Path(output) / RUN_HOLDER_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def describe(info: dict) -> str:
    run = f", run {info['run_id']}" if info.get("run_id") else ""
    return f"`forge {info.get('command', '?')}` (pid {info.get('pid')} on {info.get('host')}{run}, since {info.get('since')})"


def _busy(output: Path, what: str, info: dict | None) -> ProjectBusy:
    who = describe(info) if info else "another forge command"
    stop = f"stop it with `kill {info['pid']}` on {info['host']}" if info and info.get("pid") else "stop it"
    return ProjectBusy(f"{what}: the project is held by {who}; wait with --wait, or {stop}")


@contextlib.contextmanager
def run_lock(output: Path, command: str, run_id: str | None = None, echo=None) -> Iterator[None]:
    """Hold the run lock of the project whose output directory is `output` for the block, as `command`."""
    output = Path(output)
    key = str(output.absolute())
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    output.mkdir(parents=True, exist_ok=True)
    fd = os.open(output / RUN_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait_for_holder.get():
                    raise _busy(output, f"forge {command}", holder(output)) from None
                if not said:
                    info = holder(output)
                    (echo or _stderr)(f"waiting for {describe(info) if info else 'another forge command'} to end")
                    said = True
                time.sleep(POLL_S)
        _take_over(output, command, echo)
        write_json_atomic(
            output / RUN_HOLDER_FILE,
            {"command": command, "pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id, "since": now()},
        )
        _held[key] = [fd, 1]
        try:
            yield
        finally:
            del _held[key]
            (output / RUN_HOLDER_FILE).unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _take_over(output: Path, command: str, echo) -> None:
    """The flock is ours; a holder file left behind is from a process that is gone (say so) or from another host
    (refuse: its flock may not reach this machine's kernel)."""
    info = holder(output)
    if not info:
        return
    if info.get("host") != socket.gethostname():
        raise ProjectBusy(
            f"forge {command}: output/{RUN_HOLDER_FILE} says {describe(info)} holds the project from "
            f"another host; if that run has ended, delete output/{RUN_HOLDER_FILE}"
        )
    if info.get("pid") != os.getpid():
        state = "is gone" if not process_alive(int(info.get("pid") or 0)) else "no longer holds it"
        (echo or _stderr)(f"note: took over the run lock of {describe(info)}: that process {state}")


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def holds_run_lock(command: str, skip=lambda: False):
    """Decorate fn(project, ...) to run inside the project's run lock as `command` (unless `skip()`: a
    worker process of a run that already holds it)."""

    def wrap(fn):
        @functools.wraps(fn)
        def locked(project, *args, **kwargs):
            if skip():
                return fn(project, *args, **kwargs)
            with run_lock(project.output, command):
                return fn(project, *args, **kwargs)

        return locked

    return wrap


def set_run_id(output: Path, run_id: str) -> None:
    """Name the run in the holder file once it has an id (the agent run starts before its transcript)."""
    info = holder(output)
    if info and info.get("pid") == os.getpid():
        write_json_atomic(Path(output) / RUN_HOLDER_FILE, {**info, "run_id": run_id})
