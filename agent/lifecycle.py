"""Starting, resuming and replaying runs: planners, budgets, transcript and state wired together.

A run's state is never stored apart from its transcript: `rebuild` replays the events (each
tool's declared effect, each compaction, each note to the model) into the conversation, run
state and spent budgets, exactly as the live loop built them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from datetime import datetime

from forge import prompts
from forge.agent import conversation
from forge.agent.budgets import Budgets
from forge.agent.guards import ToolCall, ToolGuard, Verdict, execute, finish_call
from forge.agent.loop import run_loop
from forge.agent.planners import ClaudePlanner, HeuristicPlanner, ReplayPlanner
from forge.agent.run_context import Outcome, Run
from forge.agent.transcript import MANUAL, Transcript, find_run, new_run_id, read_events, transcript_path
from forge.errors import ForgeError
from forge.evaluation import baseline as forge_baseline
from forge.llm.client import has_credentials
from forge.project import gap, records
from forge.project.run_lock import run_lock
from forge.tools import registry
from forge.tools.tool import RunState, ToolContext, ToolResult

INTERRUPTED = "interrupted: the run stopped before this call finished; its effects may be partial (check status)"


def choose_planner(project, name: str | None, warn=None):
    """`claude` when a key or server is configured, otherwise `heuristic`."""
    name = name or ("claude" if has_credentials(project.config) else "heuristic")
    if name == "claude":
        return ClaudePlanner(project, warn=warn)
    if name == "heuristic":
        return HeuristicPlanner(project)
    raise ForgeError(f"--planner {name}: must be claude or heuristic (a recorded run: `forge agent replay RUN`)")


def kickoff(goal: str) -> str:
    return (
        f"Goal: {goal}\nStart by checking the project's status if useful, then work iteration by iteration. "
        "When the goal is met or no action is worth its cost, reply with a short summary and no tool call."
    )


def planner_system_prompt(project, goal: str) -> str:
    """The planner's static system prompt (role, rules, goal, BACKGROUND.md at the start of the run);
    what changes during a run goes into the conversation, so this prefix stays cached."""
    return prompts.render(
        "planner_system", goal=goal, background=records.read_context_file(project, records.BACKGROUND_FILE)
    )


def _run(
    project,
    planner,
    budgets: Budgets,
    transcript: Transcript,
    system: str,
    messages: list[dict],
    state: RunState,
    echo,
    turn: int = 0,
) -> Run:
    ctx = ToolContext(project, state, run_id=transcript.run_id, budgets=lambda: budgets.snapshot(state), echo=echo)
    tool_guard = ToolGuard(registry(project), ctx, budgets)
    return Run(
        project,
        planner,
        tool_guard,
        budgets,
        transcript,
        system,
        messages,
        turn=turn,
        context_tokens=conversation.context_budget(project.config),
        tools=[t.api_param() for t in tool_guard.tools.values()],
    )


def start(
    project, goal: str, planner, budgets: Budgets, echo=print, baseline: bool = False, teacher: bool = False
) -> tuple[Outcome, Transcript]:
    """A new run. With `baseline`, a project's first run first scores the base model zero-shot
    (forge.evaluation.baseline), so the planner, AGENT_CONTEXT.md and the report start from it. With
    `teacher`, the teacher's score (forge.evaluation.teacher, recorded once per gold set) comes next; its
    cost is the run's."""
    run_id = new_run_id()
    with run_lock(project.output, "agent run", run_id, echo):
        return _start(project, goal, planner, budgets, echo, baseline, run_id, teacher)


def _teacher(project, echo) -> dict:
    """What run_start records of the teacher's score: measured now, or the recorded one (then it cost nothing)."""
    from forge.evaluation.teacher import run_teacher

    row = run_teacher(project, echo)
    return {
        "accuracy": row["accuracy"],
        "correct": row["correct"],
        "total": row["total"],
        "model": row["model"],
        "cached": bool(row.get("cached")),
        "cost_usd": 0.0 if row.get("cached") else row["cost_usd"],
    }


def _start(project, goal, planner, budgets, echo, baseline, run_id, teacher=False) -> tuple[Outcome, Transcript]:
    transcript = Transcript(transcript_path(project, run_id))
    if baseline or teacher:
        records.heartbeat(project, "running", 0, None, run_id=run_id)
    base_row = forge_baseline.record(project, run_id, echo) if baseline else None
    teacher_row = _teacher(project, echo) if teacher else None
    if project.config.agent.stop_at_gap_closure and not gap.gap(project):
        echo(
            "warning: agent.stop_at_gap_closure is set but the gold set has no baseline and teacher score yet "
            "(`--teacher` measures the teacher); the rule cannot stop this run"
        )
    state, system = RunState(), planner_system_prompt(project, goal)
    state.cost_usd = teacher_row["cost_usd"] if teacher_row else 0.0
    first = [
        {"type": "text", "text": kickoff(goal)},
        {"type": "text", "text": conversation.project_state(project, budgets, state)},
    ]
    transcript.write(
        "run_start",
        goal=goal,
        planner=planner.name,
        model=planner.model,
        kickoff=first,
        system=system,
        budgets=budgets.snapshot(state),
        pid=os.getpid(),
        host=socket.gethostname(),
        config=dataclasses.asdict(project.config),
        baseline={k: base_row[k] for k in ("accuracy", "correct", "total")} if base_row else None,
        **({"teacher": teacher_row} if teacher_row else {}),
    )
    run = _run(project, planner, budgets, transcript, system, [{"role": "user", "content": first}], state, echo)
    return run_loop(run), transcript


def _stamp(e: dict) -> float:
    return datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()


def rebuild(events: list[dict], tools: dict | None = None):
    """(messages, state, spent, pending) of a recorded run as it stopped. `pending` are the tool_use
    blocks of the last reply that have no result, with the verdict of those already judged."""
    tools = tools or registry()
    first = events[0]
    messages: list[dict] = [{"role": "user", "content": first["kickoff"]}]
    state, spent = RunState(), {"tool_calls": 0, "planner_cost_usd": 0.0, "elapsed_s": 0.0, "turn": 0}
    pending: dict[str, dict] = {}
    inputs: dict[str, dict] = {}
    seg_start: float | None = None
    seg_last = 0.0
    for e in events:
        kind, stamp = e["event"], _stamp(e)
        if kind == "run_start":
            state.cost_usd += (e.get("teacher") or {}).get("cost_usd", 0.0)
        if kind in ("run_start", "run_resume"):
            if seg_start is not None:
                spent["elapsed_s"] += seg_last - seg_start
            seg_start = stamp
            if e.get("dropped_thinking"):
                messages = conversation.drop_thinking(messages)
        seg_last = stamp
        if kind == "model_response":
            spent["planner_cost_usd"] += e.get("cost_usd", 0.0)
            spent["turn"] = e["turn"]
            if e.get("discarded"):
                continue
            messages.append({"role": "assistant", "content": e["content"]})
            pending = {b["id"]: {"block": b, "verdict": None} for b in e["content"] if b.get("type") == "tool_use"}
            if pending:
                messages.append({"role": "user", "content": []})
        elif kind == "user_message":
            if e.get("append") and messages[-1]["role"] == "user":
                messages[-1]["content"].extend(e["content"])
            else:
                messages.append({"role": "user", "content": e["content"]})
        elif kind == "tool_call":
            spent["tool_calls"] += 1
            inputs[e["id"]] = e["input"]
            if e["id"] in pending:
                pending[e["id"]]["verdict"] = e["verdict"]
        elif kind == "tool_result":
            call = pending.pop(e["id"], None)
            if call is not None:  # (a manual session's calls have no conversation)
                messages[-1]["content"].append(conversation.tool_result(e["id"], e["content"], e["is_error"]))
            if e["name"] in tools:
                tools[e["name"]].apply(
                    state, inputs.get(e["id"], {}), ToolResult(e["content"], e.get("data", {}), e["is_error"])
                )
        elif kind == "compaction":
            messages = conversation.compact(messages, e["keep_whole"], e["keep_shrunk"])
    if seg_start is not None:
        spent["elapsed_s"] += seg_last - seg_start
    return messages, state, spent, list(pending.values())


def _finish_pending(run: Run, pending: list[dict]) -> None:
    """Give every call cut off by the crash its result: redo what is safe to redo, else say it was cut off."""
    said = []
    for p in pending:
        block, verdict = p["block"], p["verdict"]
        call = ToolCall.of_block(run.turn, block)
        tool = run.tool_guard.tools.get(call.name)
        if verdict is None:  # never judged: a normal call
            result = execute(run.tool_guard, run.transcript, call)
        elif verdict != "ok":
            result = finish_call(
                run.tool_guard, run.transcript, call, Verdict(False, verdict.removeprefix("refused: "))
            )
        elif tool is not None and tool.redo_on_resume:
            run.echo(f"  redoing `{call.name}`, cut off when the run stopped")
            result = finish_call(run.tool_guard, run.transcript, call, Verdict(True), note={"redone": True})
            said.append(
                f"`{call.name}` was cut off and has been run again ({'failed' if result.is_error else 'done'}; "
                "result above)"
            )
        else:
            interrupted = ToolResult(INTERRUPTED, {"interrupted": True}, is_error=True)
            result = finish_call(run.tool_guard, run.transcript, call, result=interrupted)
            said.append(f"`{call.name}` was cut off and not repeated; its effects may be partial")
        run.messages[-1]["content"].append(conversation.tool_result(block["id"], result.content, result.is_error))
    if said:
        run.say(
            [
                {
                    "type": "text",
                    "text": "The run was interrupted (its process stopped) and has been resumed: "
                    + "; ".join(said)
                    + ".",
                }
            ],
            append=True,
        )


def resume(
    project, run_id: str | None, planner, overrides: dict | None = None, echo=print
) -> tuple[Outcome, Transcript]:
    """Continue a stopped or killed run with its own budgets (a non-None override wins)."""
    path = find_run(project, run_id)
    if path.parent.name.startswith(MANUAL):
        raise ForgeError(f"{path.parent.name}: a manual tool session, not a planner run (see `forge tool session`)")
    with run_lock(project.output, "agent run --resume", path.parent.name, echo):
        return _resume(project, path, planner, overrides, echo)


def _resume(project, path, planner, overrides, echo) -> tuple[Outcome, Transcript]:
    events = read_events(path)
    if not events or events[0]["event"] != "run_start":
        raise ForgeError(f"{path}: not a transcript (no run_start)")
    start_event = events[0]
    messages, state, spent, pending = rebuild(events)
    budgets = Budgets.from_record(start_event["budgets"], spent, **(overrides or {}))
    budgets.elapsed_before_s = spent["elapsed_s"]
    transcript = Transcript(path)
    transcript.repair()
    models = {e.get("model") for e in events if e["event"] == "model_response"}
    new_model = planner.model
    dropped = bool(models - {new_model}) and any(
        b.get("type") == "thinking" for m in messages if m["role"] == "assistant" for b in m["content"]
    )
    if dropped:  # thinking blocks are bound to the model that wrote them
        messages = conversation.drop_thinking(messages)
    transcript.write(
        "run_resume",
        planner=planner.name,
        model=new_model,
        budgets=budgets.snapshot(state),
        pid=os.getpid(),
        host=socket.gethostname(),
        dropped_thinking=dropped,
    )
    system = start_event.get("system") or planner_system_prompt(project, start_event["goal"])
    run = _run(project, planner, budgets, transcript, system, messages, state, echo, turn=spent["turn"])
    _finish_pending(run, pending)
    if run.messages[-1]["role"] == "assistant":  # it had ended its turn: ask it to go on
        run.say([{"type": "text", "text": "The run was resumed; continue toward the goal."}])
    return run_loop(run), transcript


def replay(project, run_id: str, budgets: Budgets, echo=print) -> tuple[Outcome, Transcript, list[str]]:
    """Re-execute a recorded run's decisions; returns the divergences from the recorded results."""
    recorded = read_events(find_run(project, run_id))
    outcome, transcript = start(project, recorded[0]["goal"], ReplayPlanner(recorded), budgets, echo)
    new = read_events(transcript.path)
    old_results = [e for e in recorded if e["event"] == "tool_result"]
    new_results = [e for e in new if e["event"] == "tool_result"]
    diffs = []
    for i, (a, b) in enumerate(zip(old_results, new_results, strict=False)):
        if (a["name"], a["is_error"]) != (b["name"], b["is_error"]):
            diffs.append(f"call {i + 1} ({a['name']}): recorded is_error={a['is_error']}, now {b['is_error']}")
        elif a["name"] == "eval" and a["data"].get("accuracy") != b["data"].get("accuracy"):
            diffs.append(
                f"call {i + 1} (eval): recorded accuracy {a['data'].get('accuracy')}, now {b['data'].get('accuracy')}"
            )
    if len(old_results) != len(new_results):
        diffs.append(f"recorded {len(old_results)} tool results, replay produced {len(new_results)}")
    return outcome, transcript, diffs
