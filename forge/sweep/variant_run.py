"""One variant of a sweep, where it runs (a Ray task on a private cluster, or a job on a cluster): the project
with the variant's overlay and its own output folder, trained, then evaluated on the project's gold set.

Everything it writes lands in that folder: the adapter, eval_results.json and eval_failures.jsonl, TensorBoard
logs (tb/), the log of this variant (log: forge's lines and the libraries' output), attempts.jsonl (one line per
start, so a start after a dead worker knows it is a retry) and summary.json, which is also its return value.
It never touches the project's own output/: the sweep driver records the rows and moves the folder into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from forge.atomic import append_bytes_atomic, write_json_atomic
from forge.clock import now
from forge.config import load as config_io
from forge.errors import ForgeError, first_line
from forge.project.project import Project

SUMMARY, LOG, ATTEMPTS = "summary.json", "log", "attempts.jsonl"
# every variant is one process: a multi-process launch would start a fresh `forge` that knows no overlay
ONE_PROCESS = {"compute": {"num_processes": 1, "accelerate_config": None}}


def variant_project(root: Path, overlay: dict, out_dir: Path) -> Project:
    """The project as the variant sees it: forge.yaml plus the overlay, and `out_dir` as its output."""
    raw = config_io.read_raw(root / config_io.CONFIG_NAME)
    cfg = config_io.validate(config_io.merge(config_io.merge(raw, overlay), ONE_PROCESS), "sweep variant")
    return Project(Path(root), cfg, output_dir=Path(out_dir))


@contextlib.contextmanager
def _logged_to(path: Path):
    """Send this process's stdout and stderr (Python's and the libraries' own) to the variant's log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _attempt(out_dir: Path) -> int:
    """Record this start; its number (2 and up: an earlier worker died before it finished)."""
    path = out_dir / ATTEMPTS
    before = path.read_text(encoding="utf-8").count("\n") if path.is_file() else 0
    line = {"attempt": before + 1, "pid": os.getpid(), "host": socket.gethostname(), "time": now()}
    append_bytes_atomic(path, (json.dumps(line) + "\n").encode())
    return before + 1


def run_variant(root: str, variant_id: str, overlay: dict, out_dir: str, deadline_in_s: float | None) -> dict:
    """Train then evaluate one variant; its summary (also written to out_dir/summary.json). A Python error is a
    summary with ok false and the error's first line; only a dead process leaves no summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).unlink(missing_ok=True)
    attempt = _attempt(out)
    started = time.monotonic()
    deadline = None if deadline_in_s is None else started + float(deadline_in_s)
    summary: dict = {
        "id": variant_id,
        "attempt": attempt,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "started_at": time.time(),
    }
    with _logged_to(out / LOG):
        print(f"{now()} variant {variant_id}: attempt {attempt} on {summary['host']} (pid {os.getpid()})", flush=True)
        if attempt > 1:
            print(f"variant {variant_id}: the worker of attempt {attempt - 1} died; running it again", flush=True)
        try:
            from forge.evaluation.runner import run_eval
            from forge.training.entry import train

            project = variant_project(Path(root), overlay, out)
            echo = lambda line: print(line, flush=True)  # noqa: E731
            trained = train(project, echo=echo, deadline=deadline)
            result = run_eval(project, echo=echo)
            summary.update(
                ok=True,
                accuracy=result.accuracy,
                correct=result.correct,
                total=result.total,
                ci95=result.ci95,
                per_example=result.per_example,
                train_wall_s=round(trained.wall_s, 1),
                eval_wall_s=round(result.wall_s, 1),
                device=trained.device,
                cost_usd=(result.judge or {}).get("cost_usd", 0.0),
            )
        except Exception as exc:  # a failed variant is a row, not a crashed sweep
            print(f"variant {variant_id} failed: {type(exc).__name__}: {exc}", flush=True)
            what = first_line(exc) if isinstance(exc, ForgeError) else f"{type(exc).__name__}: {first_line(exc)}"
            summary.update(ok=False, error=what)
    summary["wall_s"] = round(time.monotonic() - started, 1)
    summary["ended_at"] = time.time()
    write_json_atomic(out / SUMMARY, summary)
    return summary
