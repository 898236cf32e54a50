"""The agent loop: check budgets, keep the context small, ask the planner, act on its stop reason.

Every model response, tool call, result, compaction and note to the model goes to the
transcript as it happens, so a crash loses nothing and `--resume` rebuilds the same
conversation. A run ends by raising RunEnded, caught in one place.
"""

from __future__ import annotations

from forge import stop_signal
from forge.agent import conversation
from forge.agent.planners import ContextOverflow, Reply
from forge.agent.replies import STOP_REASONS, on_end_turn
from forge.agent.run_context import Outcome, Run, RunEnded
from forge.errors import first_line
from forge.project import gap, records

TOOLS_SEEN = 0.5  # a first prompt counted under this share of the tools' estimated tokens: the server dropped them
WINDOW_SHARE = 0.75  # of a server's context window the prompt may fill: the rest is the reply's (and estimate error)


def check_budgets(run: Run) -> None:
    """A spent budget stops the run; agent.stop_at_gap_closure reached completes it."""
    spent = run.budgets.spent(run.state)
    if spent:
        raise RunEnded("stopped", spent)
    reached = gap.gap_reached(run.project)
    if reached:
        raise RunEnded("completed", reached)


def keep_context_small(run: Run, hard: bool = False) -> None:
    """Compact older turns when the prompt estimate passes agent.context_tokens (or, `hard`, now, to the hardest step)."""
    estimate = run.estimate()
    if not hard and estimate <= run.context_tokens:
        return
    keep_whole, keep_shrunk = (
        conversation.STEPS[-1]
        if hard
        else conversation.plan_compaction(run.messages, run.fixed_tokens, run.context_tokens, run.calibration)
    )
    run.messages[:] = conversation.compact(run.messages, keep_whole, keep_shrunk)
    after = int(run.estimate())
    run.transcript.write(
        "compaction",
        turn=run.turn,
        keep_whole=keep_whole,
        keep_shrunk=keep_shrunk,
        hard=hard,
        tokens_before=int(estimate),
        tokens_after=after,
    )
    run.echo(f"  (context compacted: ~{int(estimate)} -> ~{after} tokens)")


def ask_planner(run: Run) -> Reply:
    """The planner's next reply; a prompt the server finds too long is compacted hard and retried once."""
    run.turn += 1
    for attempt in (1, 2):
        try:
            reply = run.planner.next(run.system, run.tools, run.messages, timeout=run.budgets.seconds_left())
            break
        except ContextOverflow as exc:
            if attempt == 2:
                raise RunEnded(
                    "error",
                    exc.too_small_for(int(run.fixed_tokens * run.calibration), WINDOW_SHARE)
                    or f"planner call failed: {exc}",
                ) from None
            if exc.window:  # the server said how small its window is: compact to fit it from now on
                run.context_tokens = min(run.context_tokens, int(exc.window * WINDOW_SHARE))
                run.echo(
                    f"  (the server's context window is {exc.window} tokens: compacting past {run.context_tokens})"
                )
            keep_context_small(run, hard=True)
        except Exception as exc:  # API down after retries: stop cleanly, resumable
            raise RunEnded("error", f"planner call failed: {type(exc).__name__}: {first_line(exc, 300)}") from None
    run.budgets.planner_cost_usd += reply.cost_usd
    u = reply.usage
    prompt = u.get("input_tokens", 0) + u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0)
    if prompt:
        run.calibration = max(0.5, prompt / (run.estimate() / run.calibration))
    tool_tokens = conversation.raw_tokens(run.tools) if run.turn == 1 and prompt and run.tools else 0
    if prompt < TOOLS_SEEN * tool_tokens:
        run.echo(
            f"warning: the server counted {prompt} prompt tokens, fewer than the tool definitions alone "
            f"(~{tool_tokens}): it may not show the model its tools (llama-server needs --jinja and a model "
            "whose chat template has tool use)"
        )
    return reply


def record_reply(run: Run, reply: Reply, discarded: bool = False) -> None:
    run.transcript.write(
        "model_response",
        turn=run.turn,
        model=reply.model,
        content=reply.content,
        stop_reason=reply.stop_reason,
        usage=reply.usage,
        cost_usd=round(reply.cost_usd, 8),
        **({"discarded": True} if discarded else {}),
    )
    if discarded:
        return
    for block in reply.content:
        if block.get("type") == "text" and block["text"].strip():
            run.echo(f"[{run.turn}] {block['text'].strip()[:300]}")
    run.messages.append({"role": "assistant", "content": reply.content})


def run_loop(run: Run) -> Outcome:
    records.heartbeat(run.project, "running", run.state.iteration, run.state.accuracy, run_id=run.transcript.run_id)
    with stop_signal.handling(run.echo):
        return _loop(run)


def _loop(run: Run) -> Outcome:
    try:
        while True:
            if stop_signal.requested.is_set():  # between turns: every call so far is recorded whole
                raise RunEnded(
                    "stopped",
                    f"{stop_signal.reason()}: stopped at a safe point; `forge agent run --resume latest` continues",
                    heartbeat="stopped",
                )
            check_budgets(run)
            keep_context_small(run)
            reply = ask_planner(run)
            if reply.stop_reason == "model_context_window_exceeded":  # its reply ran out of room: shrink, ask again
                record_reply(run, reply, discarded=True)
                run.overflows += 1
                if run.overflows > 1:
                    raise RunEnded("error", "the context window is exceeded even after compaction")
                keep_context_small(run, hard=True)
                continue
            run.overflows = 0
            record_reply(run, reply)
            STOP_REASONS.get(reply.stop_reason, on_end_turn)(run, reply)
    except stop_signal.Interrupted as cut:  # the call stays without a result: --resume runs it again
        return finish(
            run,
            RunEnded(
                "stopped",
                f"{stop_signal.reason()}: stopped at a safe point ({cut} was cut "
                "short); `forge agent run --resume latest` continues",
                heartbeat="stopped",
            ),
        )
    except RunEnded as end:
        return finish(run, end)


def finish(run: Run, end: RunEnded) -> Outcome:
    best = records.best(run.project)
    best_acc = best["accuracy"] if best else None
    records.heartbeat(
        run.project,
        end.heartbeat or ("error" if end.status == "error" else "completed"),
        run.state.iteration,
        run.state.accuracy,
        run_id=run.transcript.run_id,
        error=end.reason if end.status == "error" else None,
    )
    cost = run.budgets.cost(run.state)
    run.transcript.write(
        "run_end",
        status=end.status,
        reason=end.reason,
        best_accuracy=best_acc,
        total_cost_usd=round(cost, 6),
        budgets=run.budgets.snapshot(run.state),
        **({"gap": g} if (g := gap.gap(run.project)) else {}),
    )
    records.log(run.project, f"run {run.transcript.run_id} {end.status}: {end.reason}")
    return Outcome(end.status, end.reason, best_acc, cost)
