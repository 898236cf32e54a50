"""SIGTERM and SIGHUP as a request to stop at the next safe point, not a kill.

A closed terminal (SIGHUP) or a plain `kill` (SIGTERM) would end a long run mid-write. While
`handling()` is active the first such signal only sets `requested`: training stops at its next
optimizer step (forge.training.callbacks.Deadline), a long tool at its next budget check, and
the agent loop ends the run there with a `stopped` heartbeat and run end, so `--resume latest`
continues it. A second signal gets the default behaviour (the process ends now).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
requested = threading.Event()
received: list[str] = []  # the signal's name, for the run's end reason
_depth = [0]  # handling() blocks open: an inner one (a sweep inside an agent run) leaves the outer's state alone


@contextlib.contextmanager
def handling(echo=None) -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into `requested` for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread() or _depth[0]:
        yield
        return
    _depth[0] += 1
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def on_signal(signum, _frame):
        if requested.is_set():  # asked twice: stop now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        received.append(signal.Signals(signum).name)
        requested.set()
        if echo:
            echo(f"{signal.Signals(signum).name}: stopping at the next safe point (send it again to stop now)")

    for s in SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield
    finally:
        _depth[0] -= 1
        for s, handler in previous.items():
            signal.signal(s, handler)
        requested.clear()
        received.clear()


class Interrupted(Exception):
    """A tool call that a stop signal cut short: left without a result, so `--resume` runs it again."""


def reason() -> str:
    return f"{received[0] if received else 'a stop signal'} received"
