"""Manual tool sessions: `forge tool run` calls that add up like a planner run's.

The open session is the newest output/runs/manual-<id>/ transcript without a run_end. Each call
rebuilds its run state and spent budgets from that transcript (the same `rebuild` as
`--resume`), goes through the same guards with the session's budgets, and is appended as a
tool_call / tool_result pair. So train -> eval -> promote -> commit by hand records the
iteration (experiments.jsonl, the `forge iter N` commit) exactly as a planner run does.
The wall-time budget does not apply: a person's pauses between calls are not run time.
"""

from __future__ import annotations

import dataclasses
import os
import socket

from forge.agent.budgets import Budgets
from forge.agent.guards import ToolCall, ToolGuard, execute
from forge.agent.lifecycle import rebuild
from forge.agent.transcript import MANUAL, Transcript, find_run, new_run_id, read_events, transcript_path
from forge.errors import ForgeError
from forge.locks import file_lock
from forge.tools import registry
from forge.tools.tool import ToolContext, ToolResult


def open_session(project) -> Transcript | None:
    """The open manual session, or None."""
    try:
        path = find_run(project, "manual")
    except ForgeError:
        return None
    events = read_events(path)
    return None if events and events[-1]["event"] == "run_end" else Transcript(path)


def _new_session(project) -> Transcript:
    transcript = Transcript(transcript_path(project, new_run_id(MANUAL)))
    limits = Budgets.from_config(project.config.agent, max_minutes=0)
    transcript.write(
        "run_start",
        goal="manual tool calls",
        planner="manual",
        model="manual",
        kickoff="",
        budgets=limits.limits(),
        pid=os.getpid(),
        host=socket.gethostname(),
        config=dataclasses.asdict(project.config),
    )
    return transcript


def _session_state(events: list[dict]):
    _, state, spent, _ = rebuild(events)
    return state, Budgets.from_record(events[0]["budgets"], spent), spent


def call(project, name: str, data, echo=print) -> tuple[ToolResult, Transcript]:
    """Run one tool by hand inside the open session (a new one when none is open); a second `forge tool run`
    waits for the first, so the session's budgets count both."""
    with file_lock(project.runs_dir / MANUAL):
        return _call(project, name, data, echo)


def _call(project, name: str, data, echo) -> tuple[ToolResult, Transcript]:
    transcript = open_session(project) or _new_session(project)
    transcript.repair()
    state, budgets, spent = _session_state(read_events(transcript.path))
    ctx = ToolContext(project, state, run_id=transcript.run_id, budgets=lambda: budgets.snapshot(state), echo=echo)
    n = spent["tool_calls"] + 1
    result = execute(ToolGuard(registry(), ctx, budgets), transcript, ToolCall(n, f"manual_{n:04d}", name, data))
    transcript.write("budget", **budgets.snapshot(state))
    return result, transcript


def show(project) -> dict:
    transcript = open_session(project)
    if transcript is None:
        raise ForgeError("no open manual session: `forge tool run NAME` starts one")
    state, budgets, _ = _session_state(read_events(transcript.path))
    return {
        "session": transcript.run_id,
        "transcript": project.rel(transcript.path),
        "state": dataclasses.asdict(state),
        "budgets": budgets.snapshot(state),
    }


def end(project) -> str:
    transcript = open_session(project)
    if transcript is None:
        raise ForgeError("no open manual session to end")
    state, budgets, _ = _session_state(read_events(transcript.path))
    transcript.write(
        "run_end",
        status="completed",
        reason="manual session ended",
        best_accuracy=None,
        total_cost_usd=round(budgets.cost(state), 6),
        budgets=budgets.snapshot(state),
    )
    return transcript.run_id
