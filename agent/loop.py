"""The agent loop: check budgets, keep the context small, ask the planner, act on its stop reason.

Every model response, tool call, result, compaction and note to the model goes to the
transcript as it happens, so a crash loses nothing and `--resume` rebuilds the same
conversation. A run ends by raising RunEnded, caught in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from forge import stop_signal
from forge.agent import conversation
from forge.agent.budgets import Budgets
from forge.agent.guards import ToolGuard, execute
from forge.agent.planners import ContextOverflow, Planner, Reply
from forge.agent.transcript import Transcript
from forge.errors import first_line
from forge.project import records

if TYPE_CHECKING:
    from forge.project.project import Project

CUT_OFF = "Your reply was cut off by max_tokens before the tool call was complete; call it again, more briefly."
CLOSES_ITERATION = "commit"
WINDOW_SHARE = 0.75  # of a server's context window the prompt may fill: the rest is the reply's (and estimate error)


class RunEnded(Exception):
    def __init__(self, status: str, reason: str, heartbeat: str | None = None):  # status: completed | stopped | error
        super().__init__(reason)
        self.status, self.reason, self.heartbeat = status, reason, heartbeat


@dataclass
class Outcome:
    status: str
    reason: str
    best_accuracy: float | None
    cost_usd: float


@dataclass
class Run:
    """Everything one loop works with."""

    project: Project
    planner: Planner
    tool_guard: ToolGuard
    budgets: Budgets
    transcript: Transcript
    system: str
    messages: list[dict]
    turn: int = 0
    context_tokens: int = 150_000
    calibration: float = 1.0            # real prompt tokens / estimated, from the last reply
    overflows: int = 0
    tools: list[dict] = field(default_factory=list)

    @property
    def state(self):
        return self.tool_guard.ctx.state

    @cached_property
    def fixed_tokens(self) -> int:
        """Estimated tokens of the prefix that never changes: the system prompt and the tools."""
        return conversation.raw_tokens([self.system, self.tools])

    def estimate(self) -> float:
        """The next request's prompt tokens: estimated from its characters, calibrated by the last usage."""
        return (self.fixed_tokens + conversation.raw_tokens(self.messages)) * self.calibration

    def echo(self, line: str) -> None:
        self.tool_guard.ctx.echo(line)

    def say(self, content: list[dict], append: bool = False) -> None:
        """A message to the model (a new user message, or blocks added to the newest one), recorded."""
        if append and self.messages[-1]["role"] == "user":
            self.messages[-1]["content"].extend(content)
        else:
            self.messages.append({"role": "user", "content": content})
        self.transcript.write("user_message", turn=self.turn, content=content, append=append)


# -- steps ----------------------------------------------------------------------------------------

def check_budgets(run: Run) -> None:
    spent = run.budgets.spent(run.state)
    if spent:
        raise RunEnded("stopped", spent)


def check_gap_closure(run: Run) -> None:
    """agent.stop_at_gap_closure: the best model has closed that share of the gap from the base to the teacher."""
    rule = run.project.config.agent.stop_at_gap_closure
    g = records.gap(run.project) if rule else None
    if g and g["closure"] is not None and g["closure"] >= rule:
        raise RunEnded("completed", f"gap closure {g['closure']:.2f} reached agent.stop_at_gap_closure {rule:g} "
                                    f"({records.gap_text(g)})")


def keep_context_small(run: Run, hard: bool = False) -> None:
    """Compact older turns when the prompt estimate passes agent.context_tokens (or, `hard`, now, to the hardest step)."""
    estimate = run.estimate()
    if not hard and estimate <= run.context_tokens:
        return
    keep_whole, keep_shrunk = conversation.STEPS[-1] if hard else conversation.plan_compaction(
        run.messages, run.fixed_tokens, run.context_tokens, run.calibration)
    run.messages[:] = conversation.compact(run.messages, keep_whole, keep_shrunk)
    after = int(run.estimate())
    run.transcript.write("compaction", turn=run.turn, keep_whole=keep_whole, keep_shrunk=keep_shrunk,
                         hard=hard, tokens_before=int(estimate), tokens_after=after)
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
                fixed = int(run.fixed_tokens * run.calibration)
                if exc.window and fixed > exc.window * WINDOW_SHARE:
                    raise RunEnded("error", f"the planner's system prompt and tools alone are ~{fixed} tokens, too "
                                            f"many for the server's {exc.window}-token window: serve the model with "
                                            "a larger context (llama-server -c, Ollama num_ctx)") from None
                raise RunEnded("error", f"planner call failed: {exc}") from None
            if exc.window:  # the server said how small its window is: compact to fit it from now on
                run.context_tokens = min(run.context_tokens, int(exc.window * WINDOW_SHARE))
                run.echo(f"  (the server's context window is {exc.window} tokens: compacting past "
                         f"{run.context_tokens})")
            keep_context_small(run, hard=True)
        except Exception as exc:  # API down after retries: stop cleanly, resumable
            raise RunEnded("error", f"planner call failed: {type(exc).__name__}: {first_line(exc, 300)}") from None
    run.budgets.planner_cost_usd += reply.cost_usd
    u = reply.usage
    prompt = u.get("input_tokens", 0) + u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0)
    if prompt:
        run.calibration = max(0.5, prompt / (run.estimate() / run.calibration))
    return reply


def record_reply(run: Run, reply: Reply, discarded: bool = False) -> None:
    run.transcript.write("model_response", turn=run.turn, model=reply.model, content=reply.content,
                         stop_reason=reply.stop_reason, usage=reply.usage, cost_usd=round(reply.cost_usd, 8),
                         **({"discarded": True} if discarded else {}))
    if discarded:
        return
    for block in reply.content:
        if block.get("type") == "text" and block["text"].strip():
            run.echo(f"[{run.turn}] {block['text'].strip()[:300]}")
    run.messages.append({"role": "assistant", "content": reply.content})


# -- stop reasons ---------------------------------------------------------------------------------

def on_tool_use(run: Run, reply: Reply) -> None:
    results, names = [], []
    for block in reply.content:
        if block.get("type") == "tool_use":
            result = execute(run.tool_guard, run.transcript, run.turn, block["id"], block["name"], block.get("input", {}))
            results.append(conversation.tool_result(block["id"], result.content, result.is_error))
            names.append(block["name"])
    run.messages.append({"role": "user", "content": results})
    run.transcript.write("budget", **run.budgets.snapshot(run.state))
    if CLOSES_ITERATION in names:  # the next iteration's first message carries the project state
        run.say([{"type": "text", "text": conversation.project_state(run.project, run.budgets, run.state)}],
                append=True)
    records.heartbeat(run.project, "running", run.state.iteration, run.state.accuracy, run_id=run.transcript.run_id)


def on_pause(run: Run, reply: Reply) -> None:
    """pause_turn: the turn goes back as it is and the model continues it."""


def on_max_tokens(run: Run, reply: Reply) -> None:
    cut = [b for b in reply.content if b.get("type") == "tool_use"]
    run.say([conversation.tool_result(b["id"], CUT_OFF, is_error=True) for b in cut]
            or [{"type": "text", "text": "Your reply was cut off by max_tokens; continue."}])


def on_refusal(run: Run, reply: Reply) -> None:
    raise RunEnded("stopped", "the model refused to continue")


def on_end_turn(run: Run, reply: Reply) -> None:
    if not run.budgets.tool_calls:  # a small local model answers in prose where a tool call was wanted
        said = " ".join(b["text"] for b in reply.content if b.get("type") == "text").split()
        raise RunEnded("completed", "the planner finished without calling any tool"
                       + (f": {' '.join(said)[:160]}" if said else ""))
    raise RunEnded("completed", "the planner finished")


STOP_REASONS = {"tool_use": on_tool_use, "pause_turn": on_pause, "max_tokens": on_max_tokens,
                "refusal": on_refusal, "end_turn": on_end_turn, "stop_sequence": on_end_turn}


def run_loop(run: Run) -> Outcome:
    records.heartbeat(run.project, "running", run.state.iteration, run.state.accuracy, run_id=run.transcript.run_id)
    with stop_signal.handling(run.echo):
        return _loop(run)


def _loop(run: Run) -> Outcome:
    try:
        while True:
            if stop_signal.requested.is_set():  # between turns: every call so far is recorded whole
                raise RunEnded("stopped", f"{stop_signal.reason()}: stopped at a safe point; `forge agent run "
                                          "--resume latest` continues", heartbeat="stopped")
            check_budgets(run)
            check_gap_closure(run)
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
        return finish(run, RunEnded("stopped", f"{stop_signal.reason()}: stopped at a safe point ({cut} was cut "
                                               "short); `forge agent run --resume latest` continues",
                                    heartbeat="stopped"))
    except RunEnded as end:
        return finish(run, end)


def finish(run: Run, end: RunEnded) -> Outcome:
    best = records.best(run.project)
    best_acc = best["accuracy"] if best else None
    records.heartbeat(run.project, end.heartbeat or ("error" if end.status == "error" else "completed"),
                      run.state.iteration,
                      run.state.accuracy, run_id=run.transcript.run_id, error=end.reason if end.status == "error" else None)
    cost = run.budgets.cost(run.state)
    run.transcript.write("run_end", status=end.status, reason=end.reason, best_accuracy=best_acc,
                         total_cost_usd=round(cost, 6), budgets=run.budgets.snapshot(run.state),
                         **({"gap": g} if (g := records.gap(run.project)) else {}))
    records.log(run.project, f"run {run.transcript.run_id} {end.status}: {end.reason}")
    return Outcome(end.status, end.reason, best_acc, cost)
