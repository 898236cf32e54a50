"""Progress of a long eval: on a terminal a live bar (done/total, examples/s, ETA; forge.live_bar);
elsewhere (CI, `tee`, an agent run's log) a line every `every_s` seconds, so a 20-minute eval never
looks hung."""

from __future__ import annotations

import time


class EvalProgress:
    def __init__(self, total: int, echo=print, live: bool | None = None, every_s: float = 30.0):
        from forge.live_bar import open_bar

        self.total, self.echo, self.every_s = total, echo, every_s
        self.done, self.start = 0, time.perf_counter()
        self.last_line = self.start

        self.bar = open_bar("evaluating", total, live)
        self.live = self.bar is not None

    def rate(self) -> float:
        return self.done / max(1e-9, time.perf_counter() - self.start)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.done, f"{self.rate():.1f} examples/s")
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every_s and self.done < self.total:
            self.last_line = now
            eta = (self.total - self.done) / max(self.rate(), 1e-9)
            self.echo(f"eval: {self.done}/{self.total} examples, {self.rate():.1f}/s, about {eta:.0f}s left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
