"""The agent loop: ask the planner for the next step, run its tool calls through the guards, repeat.

Budgets are checked before every model call (here) and every tool call (in the guard). Every
model response, tool call and result goes to the transcript as it happens, so a crash loses
nothing and `--resume` can continue. Stop reasons: tool_use (run the calls), pause_turn (send
the turn back as is), max_tokens (say so and continue), refusal and end_turn (stop).
"""

from __future__ import annotations

from dataclasses import dataclass

from forge import prompts
from forge.agent import bookkeeping
from forge.agent.guards import Guard, refusal

CUT_OFF = "Your reply was cut off by max_tokens before the tool call was complete; call it again, more briefly."


@dataclass
class Outcome:
    status: str          # completed | stopped | error
    reason: str
    best_accuracy: float | None
    cost_usd: float
    turns: int


def kickoff(goal: str) -> str:
    return (f"Goal: {goal}\nStart by checking the project's status if useful, then work iteration by iteration. "
            "When the goal is met or no action is worth its cost, reply with a short summary and no tool call.")


def system_prompt(project, goal: str) -> str:
    return prompts.render(
        "planner_system", goal=goal, background=bookkeeping.read_file(project, "BACKGROUND.md"),
        agent_context=bookkeeping.read_file(project, bookkeeping.CONTEXT_FILE, bookkeeping.CONTEXT_CHARS),
        plan=bookkeeping.read_file(project, bookkeeping.PLAN_FILE))


def _run_tools(reply, guard: Guard, transcript, turn: int) -> list[dict]:
    results = []
    for block in reply.content:
        if block.get("type") != "tool_use":
            continue
        name, data = block["name"], block.get("input", {})
        verdict = guard.check(name, data)
        transcript.write("tool_call", turn=turn, id=block["id"], name=name, input=data, verdict=str(verdict))
        result, seconds = guard.run(name, data) if verdict.allowed else (refusal(verdict), 0.0)
        transcript.write("tool_result", turn=turn, id=block["id"], name=name, content=result.content,
                         is_error=result.is_error, data=result.data, duration_s=seconds)
        guard.ctx.echo(f"  {name} -> {'ERROR ' if result.is_error else ''}{result.content.splitlines()[0][:160]}")
        results.append({"type": "tool_result", "tool_use_id": block["id"], "content": result.content,
                        "is_error": result.is_error})
    return results


def run_loop(project, planner, goal: str, guard: Guard, budgets, transcript, messages: list[dict],
             turn: int = 0) -> Outcome:
    state = guard.ctx.state
    tools = [t.api_param() for t in guard.tools.values()]
    status, reason = "completed", ""
    bookkeeping.heartbeat(project, "running", state.iteration, state.accuracy)
    while True:
        spent = budgets.spent(state)
        if spent:
            status, reason = "stopped", spent
            break
        turn += 1
        try:
            reply = planner.next(system_prompt(project, goal), tools, messages)
        except Exception as exc:  # API down after retries: stop cleanly, resumable
            status, reason = "error", f"planner call failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            break
        budgets.planner_cost_usd += reply.cost_usd
        transcript.write("model_response", turn=turn, model=reply.model, content=reply.content,
                         stop_reason=reply.stop_reason, usage=reply.usage, cost_usd=round(reply.cost_usd, 8))
        for block in reply.content:
            if block.get("type") == "text" and block["text"].strip():
                guard.ctx.echo(f"[{turn}] {block['text'].strip()[:300]}")
        messages.append({"role": "assistant", "content": reply.content})
        if reply.stop_reason == "tool_use":
            messages.append({"role": "user", "content": _run_tools(reply, guard, transcript, turn)})
            transcript.write("budget", **budgets.snapshot(state))
            bookkeeping.heartbeat(project, "running", state.iteration, state.accuracy)
            continue
        if reply.stop_reason == "pause_turn":
            continue
        if reply.stop_reason == "max_tokens":
            cut = [b for b in reply.content if b.get("type") == "tool_use"]
            content = [{"type": "tool_result", "tool_use_id": b["id"], "content": CUT_OFF, "is_error": True}
                       for b in cut] or [{"type": "text", "text": "Your reply was cut off by max_tokens; continue."}]
            messages.append({"role": "user", "content": content})
            transcript.write("user_message", turn=turn, content=content)
            continue
        if reply.stop_reason == "refusal":
            status, reason = "stopped", "the model refused to continue"
        else:
            reason = "the planner finished"
        break
    best = project.read_state("best_score.json")
    best_acc = best["accuracy"] if best else None
    heartbeat_status = "error" if status == "error" else "completed"
    bookkeeping.heartbeat(project, heartbeat_status, state.iteration, state.accuracy,
                          error=reason if status == "error" else None)
    cost = budgets.cost(state)
    transcript.write("run_end", status=status, reason=reason, best_accuracy=best_acc, total_cost_usd=round(cost, 6),
                     budgets=budgets.snapshot(state))
    bookkeeping.log(project, f"run {transcript.run_id} {status}: {reason}")
    return Outcome(status, reason, best_acc, cost, turn)
