"""What the loop does with each stop reason of a planner reply: run its tool calls, continue a paused
turn, ask again after a cut-off reply (a few times), or end the run."""

from __future__ import annotations

from forge.agent import conversation
from forge.agent.guards import ToolCall, execute
from forge.agent.planners import Reply
from forge.agent.run_context import Run, RunEnded
from forge.project import records

CUT_OFF = "Your reply was cut off by max_tokens before the tool call was complete; call it again, more briefly."
CLOSES_ITERATION = "commit"
MAX_CUT_OFFS = 3  # replies in a row cut off by max_tokens before the run ends: a small model can ramble forever


def on_tool_use(run: Run, reply: Reply) -> None:
    run.cut_offs = 0
    results, names = [], []
    for block in reply.content:
        if block.get("type") == "tool_use":
            result = execute(run.tool_guard, run.transcript, ToolCall.of_block(run.turn, block))
            results.append(conversation.tool_result(block["id"], result.content, result.is_error))
            names.append(block["name"])
    run.messages.append({"role": "user", "content": results})
    run.transcript.write("budget", **run.budgets.snapshot(run.state))
    if CLOSES_ITERATION in names:  # the next iteration's first message carries the project state
        run.say(
            [{"type": "text", "text": conversation.project_state(run.project, run.budgets, run.state)}], append=True
        )
    records.heartbeat(run.project, "running", run.state.iteration, run.state.accuracy, run_id=run.transcript.run_id)


def on_pause(run: Run, reply: Reply) -> None:
    """pause_turn: the turn goes back as it is and the model continues it."""


def on_max_tokens(run: Run, reply: Reply) -> None:
    run.cut_offs += 1
    if run.cut_offs >= MAX_CUT_OFFS:  # a small model that rambles until max_tokens, turn after turn
        limit = run.project.config.agent.max_tokens
        raise RunEnded(
            "error",
            f"{run.cut_offs} replies in a row ran into max_tokens (agent.max_tokens {limit}) before a tool call",
        )
    cut = [b for b in reply.content if b.get("type") == "tool_use"]
    run.say(
        [conversation.tool_result(b["id"], CUT_OFF, is_error=True) for b in cut]
        or [{"type": "text", "text": "Your reply was cut off by max_tokens; continue."}]
    )


def on_refusal(run: Run, reply: Reply) -> None:
    raise RunEnded("stopped", "the model refused to continue")


def on_end_turn(run: Run, reply: Reply) -> None:
    if not run.budgets.tool_calls:  # a small local model answers in prose where a tool call was wanted
        said = " ".join(b["text"] for b in reply.content if b.get("type") == "text").split()
        raise RunEnded(
            "completed", "the planner finished without calling any tool" + (f": {' '.join(said)[:160]}" if said else "")
        )
    raise RunEnded("completed", "the planner finished")


STOP_REASONS = {
    "tool_use": on_tool_use,
    "pause_turn": on_pause,
    "max_tokens": on_max_tokens,
    "refusal": on_refusal,
    "end_turn": on_end_turn,
    "stop_sequence": on_end_turn,
}
