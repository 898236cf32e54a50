"""The live progress bar of training and eval: rich on a terminal; on a remote step whose client shows a
bar, JSON events in the step's log (`MARK` + JSON per line), which the client renders with the same bar.

Whoever shows lines instead (CI, `tee`, an agent run's log) gets `None` from `open_bar`.
"""

from __future__ import annotations

import json
import os
import sys
import time

ENV = "FORGE_PROGRESS"  # "events": this process is a remote step and its client draws the bar
MARK = "\x1eforge-progress "  # starts an event line in a remote step's log
EVENT_EVERY_S = 1.0


class RichBar:
    """label  ━━━━━━━━━  done/total  info  ETA, transient (gone when the work ends)."""

    def __init__(self, label: str, total: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(label),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.progress.add_task(label, total=total, info="")
        self.progress.start()

    def update(self, completed: int, info: str) -> None:
        self.progress.update(self.task, completed=completed, info=info)

    def stop(self) -> None:
        self.progress.stop()


class EventBar:
    """Writes the bar's state to stdout (the remote step's log) at most once a second."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.last = label, total, 0.0

    def _emit(self, **event) -> None:
        sys.stdout.write(MARK + json.dumps({"label": self.label, "total": self.total, **event}) + "\n")
        sys.stdout.flush()

    def update(self, completed: int, info: str) -> None:
        now = time.monotonic()
        if now - self.last >= EVENT_EVERY_S or completed >= self.total:
            self.last = now
            self._emit(completed=completed, info=info)

    def stop(self) -> None:
        self._emit(stop=True)


def _sends_events() -> bool:
    """This process is a remote step (or a training worker) whose client draws its bar."""
    return os.environ.get(ENV) == "events"


def open_bar(label: str, total: int, live: bool | None = None) -> RichBar | EventBar | None:
    """The bar for this process, or None where progress is shown as lines."""
    if _sends_events():
        return EventBar(label, total)
    if sys.stderr.isatty() if live is None else live:
        return RichBar(label, total)
    return None


class EventRenderer:
    """Client side: draws a remote step's bar events on this terminal."""

    def __init__(self):
        self.bars: dict[str, RichBar] = {}

    def feed(self, line: str) -> None:
        try:
            event = json.loads(line[len(MARK) :])
            label = str(event["label"])
        except (ValueError, KeyError, TypeError):
            return  # a torn or foreign line: the bar is cosmetic
        bar = self.bars.get(label)
        if event.get("stop"):
            if bar:
                bar.stop()
                del self.bars[label]
            return
        if bar is None:
            bar = self.bars[label] = RichBar(label, int(event.get("total") or 0))
        bar.update(int(event.get("completed") or 0), str(event.get("info", "")))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.stop()
        self.bars.clear()


def wants_events() -> bool:
    """Whether a child process should send bar events: this terminal draws them, or this process passes them
    on to its own client (it is a remote step)."""
    return _sends_events() or sys.stderr.isatty()


class LogLines:
    """Another process's output, as it arrives: text lines go to `echo`, bar events to this terminal's bar (or
    on to this process's own output when it is itself a remote step); a torn last line waits for its end."""

    def __init__(self, echo, events: bool = True):
        self.echo, self.buf = echo, b""
        self.passthrough = _sends_events()
        self.renderer = EventRenderer() if events and not self.passthrough and sys.stderr.isatty() else None

    def feed(self, chunk: bytes) -> int:
        """Take a chunk; returns how many bytes of complete lines were handled."""
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        used = 0
        for line in lines:
            used += len(line) + 1
            text = line.decode(errors="replace").rstrip("\r")
            if text.startswith(MARK):
                if self.passthrough:
                    sys.stdout.write(text + "\n")
                    sys.stdout.flush()
                elif self.renderer:
                    self.renderer.feed(text)
            elif self.echo is not None:
                self.echo(text)
        return used

    def close(self) -> None:
        if self.renderer:
            self.renderer.close()
