"""File locks for read-modify-write of project state: one writer at a time, readers never wait.

`file_lock(path)` holds an exclusive `fcntl.flock` on a lock file for the length of a `with`
block: inside a project, output/.locks/<the path, / as __>.lock (output/ is not committed);
elsewhere `.<name>.lock` beside `path`, so a second command's import, patch or
record update waits a moment and then lands on top of the first one's, instead of the last
writer silently winning. Locks are reentrant per thread: a function that holds the lock may
call another that takes it again; another thread, like another process, waits. The kernel releases a lock when its process dies, so a
crash (kill -9 included) never leaves one behind. Critical sections are short (a read, a
merge, an atomic write); a lock still held after `timeout_s` is an error naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from forge.errors import ForgeError

WAIT_S = 300.0  # far beyond any critical section: a holder this long is stuck, and saying so beats hanging
POLL_S = 0.05

_held: dict[tuple[str, int], tuple[int, int]] = {}  # (lock file, thread) -> (fd, depth)
_mutex = threading.Lock()


def lock_path(path: Path) -> Path:
    path = Path(path).absolute()
    for root in path.parents:
        if (root / "forge.yaml").is_file():
            rel = path.relative_to(root).as_posix().replace("/", "__")
            return root / "output" / ".locks" / f"{rel}.lock"
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def file_lock(path: Path, timeout_s: float = WAIT_S) -> Iterator[None]:
    """Hold the exclusive lock of `path` (a file or directory that may not exist yet) for the block."""
    lock = lock_path(path)
    key = (str(lock.resolve()) if lock.parent.exists() else str(lock.absolute()), threading.get_ident())
    with _mutex:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _mutex:
                fd, depth = _held[key]
                _held[key] = (fd, depth - 1)
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ForgeError(
                        f"{path}: another forge command has held its lock for over {timeout_s:.0f} s "
                        f"({lock}); is one stuck?"
                    ) from None
                time.sleep(POLL_S)
        with _mutex:
            _held[key] = (fd, 1)
        try:
            yield
        finally:
            with _mutex:
                del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
