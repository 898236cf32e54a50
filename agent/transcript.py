"""The run transcript: output/runs/<run-id>/transcript.jsonl, append-only, flushed every event.

Events: run_start, model_response, tool_call, tool_result, user_message, compaction, budget,
run_resume, run_end. Every run can be rebuilt from it (`--resume`, `forge agent replay`).
Manual sessions (`forge tool run`) are transcripts too, in output/runs/manual-<id>/; `latest`
never picks one. Secrets never reach it: the values of ANTHROPIC_API_KEY and HF_TOKEN are
replaced before a line is written.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from forge.atomic import disk_full
from forge.clock import id_stamp, now

MANUAL = "manual-"
TRANSCRIPT_FILE = "transcript.jsonl"
SECRET_VARS = ("ANTHROPIC_API_KEY", "HF_TOKEN", "ANTHROPIC_AUTH_TOKEN")


def new_run_id(prefix: str = "") -> str:
    return prefix + id_stamp() + "-" + secrets.token_hex(2)


def transcript_path(project, run_id: str) -> Path:
    """output/runs/<run_id>/transcript.jsonl."""
    return project.runs_dir / run_id / TRANSCRIPT_FILE


def find_run(project, run: str | None) -> Path:
    """The transcript path of RUN: an id, 'latest' (the newest agent run) or 'manual' (the newest manual session)."""
    from forge.errors import ForgeError

    base = project.runs_dir
    if not run or run in ("latest", "manual"):
        found = sorted(
            p for p in base.glob(f"*/{TRANSCRIPT_FILE}") if p.parent.name.startswith(MANUAL) == (run == "manual")
        )
        if not found:
            what = "manual tool sessions (`forge tool run`)" if run == "manual" else "agent runs (`forge agent run`)"
            raise ForgeError(f"no {what} in {project.rel(base)}/ yet")
        return found[-1]
    path = transcript_path(project, run)
    if not path.is_file():
        raise ForgeError(f"{project.rel(base / run)}: no such run")
    return path


def _scrub(line: str) -> str:
    for var in SECRET_VARS:
        value = os.environ.get(var)
        if value and len(value) >= 8:
            line = line.replace(value, "[REDACTED]")
    return line


class Transcript:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def repair(self) -> None:
        """Drop a half-written last line (a crash mid-write) so appends start on a fresh line."""
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            keep = raw[: raw.rfind(b"\n") + 1]
            with open(self.path, "r+b") as fh:
                fh.truncate(len(keep))

    @property
    def run_id(self) -> str:
        return self.path.parent.name

    def write(self, event: str, **fields) -> dict:
        record = {"event": event, "time": now(), **fields}
        line = _scrub(json.dumps(record, ensure_ascii=False, default=str))
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # a full disk: cut the partial line off, so the transcript stays whole
            with open(self.path, "r+b") as fh:
                fh.truncate(size)
            full = disk_full(self.path, exc)
            if full:
                raise full from None
            raise
        return record


def read_events(path: Path) -> list[dict]:
    """Events of a transcript; a line cut by a crash at the very end is left out with one line saying so (it
    was never acted on); a bad line anywhere else is an error naming it."""
    from forge.errors import ForgeError
    from forge.jsonl import read_records

    try:
        rows = read_records(Path(path), str(path))
    except ForgeError as exc:
        raise ForgeError(f"{exc} (a corrupt transcript line)") from None
    return [obj for _, obj in rows if isinstance(obj, dict)]
