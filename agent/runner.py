"""Starting, resuming and replaying runs: planners, budgets, transcript and state wired together."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

from forge.agent.budgets import Budgets
from forge.agent.guards import Guard
from forge.agent.loop import Outcome, kickoff, run_loop
from forge.agent.planners import ClaudePlanner, HeuristicPlanner, ReplayPlanner
from forge.agent.transcript import Transcript, find_run, new_run_id, read_events, runs_dir
from forge.errors import ForgeError
from forge.llm_client import has_credentials
from forge.tools import registry
from forge.tools.tool import RunState, ToolContext

INTERRUPTED = "interrupted: the run stopped before this call finished; its effects may be partial (check status)"


def choose_planner(project, name: str | None):
    """`claude` when a key is present, otherwise `heuristic` (the caller says which)."""
    name = name or ("claude" if has_credentials(project.config) else "heuristic")
    if name == "claude":
        return ClaudePlanner(project)
    if name == "heuristic":
        return HeuristicPlanner(project)
    raise ForgeError(f"--planner {name}: must be claude or heuristic (replay takes a recorded run: --replay RUN)")


def _context(project, budgets: Budgets, echo) -> ToolContext:
    return ToolContext(project, RunState(), max_iterations=budgets.max_iterations,
                       max_new_examples=project.config.agent.max_new_examples, echo=echo)


def start(project, goal: str, planner, budgets: Budgets, echo=print) -> tuple[Outcome, Transcript]:
    transcript = Transcript(runs_dir(project) / new_run_id() / "transcript.jsonl")
    first = kickoff(goal)
    transcript.write("run_start", goal=goal, planner=planner.name, model=getattr(planner, "model", planner.name),
                     kickoff=first, budgets=budgets.snapshot(RunState()),
                     config=dataclasses.asdict(project.config))
    ctx = _context(project, budgets, echo)
    guard = Guard(registry(), ctx, budgets)
    outcome = run_loop(project, planner, goal, guard, budgets, transcript, [{"role": "user", "content": first}])
    return outcome, transcript


def rebuild(events: list[dict]) -> tuple[list[dict], RunState, dict]:
    """Conversation, tool state and spent budgets of a recorded run, as they were when it stopped."""
    start_event = events[0]
    messages: list[dict] = [{"role": "user", "content": start_event["kickoff"]}]
    state, spent = RunState(), {"tool_calls": 0, "planner_cost_usd": 0.0, "elapsed_s": 0.0, "turn": 0}
    pending: list[str] = []
    inputs: dict[str, dict] = {}
    seg_start = seg_last = None
    for e in events:
        kind, stamp = e["event"], datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
        if kind in ("run_start", "run_resume"):
            if seg_start is not None:
                spent["elapsed_s"] += seg_last - seg_start
            seg_start = stamp
        seg_last = stamp
        if kind == "model_response":
            messages.append({"role": "assistant", "content": e["content"]})
            spent["planner_cost_usd"] += e.get("cost_usd", 0.0)
            spent["turn"] = e["turn"]
            pending = [b["id"] for b in e["content"] if b.get("type") == "tool_use"]
            if pending:
                messages.append({"role": "user", "content": []})
        elif kind == "user_message":
            messages.append({"role": "user", "content": e["content"]})
        elif kind == "tool_call":
            spent["tool_calls"] += 1
            inputs[e["id"]] = e["input"]
        elif kind == "tool_result":
            messages[-1]["content"].append({"type": "tool_result", "tool_use_id": e["id"], "content": e["content"],
                                            "is_error": e["is_error"]})
            pending.remove(e["id"])
            _apply(state, e, inputs.get(e["id"], {}))
    if seg_start is not None:
        spent["elapsed_s"] += seg_last - seg_start
    for tool_id in pending:  # crashed mid-call: the model must still get a result for each call
        messages[-1]["content"].append({"type": "tool_result", "tool_use_id": tool_id, "content": INTERRUPTED,
                                        "is_error": True})
    return messages, state, spent


def _apply(state: RunState, e: dict, tool_input: dict) -> None:
    """Replay one tool result's effect on the run state."""
    if e["is_error"]:
        return
    data = e.get("data", {})
    if e["name"] == "train":
        state.iterations += 1
        state.iteration = data.get("iteration", state.iteration)
        state.trained_since_eval = True
        state.hypothesis = tool_input.get("hypothesis", "")
    elif e["name"] == "eval":
        state.accuracy = data.get("accuracy")
        if state.trained_since_eval:
            state.trained_since_eval, state.evaluated_since_commit = False, True
    elif e["name"] == "commit":
        state.evaluated_since_commit = False
    elif e["name"] == "augment":
        state.new_examples += data.get("kept", 0)
        state.cost_usd += data.get("cost_usd", 0.0)


def resume(project, run: str | None, planner, budgets: Budgets, echo=print) -> tuple[Outcome, Transcript]:
    path = find_run(project, run)
    events = read_events(path)
    if not events or events[0]["event"] != "run_start":
        raise ForgeError(f"{path}: not a transcript (no run_start)")
    messages, state, spent = rebuild(events)
    budgets.tool_calls, budgets.planner_cost_usd = spent["tool_calls"], spent["planner_cost_usd"]
    budgets.elapsed_before_s, budgets.started = spent["elapsed_s"], time.monotonic()
    transcript = Transcript(path)
    transcript.repair()
    transcript.write("run_resume", planner=planner.name, budgets=budgets.snapshot(state))
    if messages[-1]["role"] == "assistant":  # it had ended its turn: ask it to go on
        nudge = [{"type": "text", "text": "The run was resumed; continue toward the goal."}]
        messages.append({"role": "user", "content": nudge})
        transcript.write("user_message", turn=spent["turn"], content=nudge)
    ctx = _context(project, budgets, echo)
    ctx.state = state
    guard = Guard(registry(), ctx, budgets)
    goal = events[0]["goal"]
    outcome = run_loop(project, planner, goal, guard, budgets, transcript, messages, turn=spent["turn"])
    return outcome, transcript


def replay(project, run: str, budgets: Budgets, echo=print) -> tuple[Outcome, Transcript, list[str]]:
    """Re-execute a recorded run's decisions; returns the divergences from the recorded results."""
    recorded = read_events(find_run(project, run))
    outcome, transcript = start(project, recorded[0]["goal"], ReplayPlanner(recorded), budgets, echo)
    new = read_events(transcript.path)
    old_results = [e for e in recorded if e["event"] == "tool_result"]
    new_results = [e for e in new if e["event"] == "tool_result"]
    diffs = []
    for i, (a, b) in enumerate(zip(old_results, new_results, strict=False)):
        if (a["name"], a["is_error"]) != (b["name"], b["is_error"]):
            diffs.append(f"call {i + 1} ({a['name']}): recorded is_error={a['is_error']}, now {b['is_error']}")
        elif a["name"] == "eval" and a["data"].get("accuracy") != b["data"].get("accuracy"):
            diffs.append(f"call {i + 1} (eval): recorded accuracy {a['data'].get('accuracy')}, "
                         f"now {b['data'].get('accuracy')}")
    if len(old_results) != len(new_results):
        diffs.append(f"recorded {len(old_results)} tool results, replay produced {len(new_results)}")
    return outcome, transcript, diffs
