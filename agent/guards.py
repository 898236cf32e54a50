"""Guards in code, not in the prompt: every tool call, from the model or a person, passes here.

Order: known tool? budgets left? input valid against the tool's schema? what the call claims
(a training run, n new examples) within budget? then run, where a precondition failure
(ToolRefused), a forge error or any other exception becomes an `is_error` result. Nothing a
tool does can escape the loop. `finish_call` applies the tool's declared effect to the run state
for every result it records, as `lifecycle.rebuild` does when it replays them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jsonschema

from forge import stop_signal
from forge.config.load import describe_error
from forge.errors import ForgeError, first_line
from forge.tools.tool import ToolContext, ToolRefused, ToolResult


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool: the planner turn it came in, its tool_use id, the tool's name and its input."""

    turn: int
    id: str
    name: str
    input: dict

    @classmethod
    def of_block(cls, turn: int, block: dict) -> ToolCall:
        """The call a `tool_use` block of a planner reply makes."""
        return cls(turn, block["id"], block["name"], block.get("input", {}))


@dataclass
class Verdict:
    allowed: bool
    reason: str = ""
    budget: bool = False  # refused by a budget (a fresh session or run lifts it), not by the input

    def __str__(self) -> str:
        return "ok" if self.allowed else f"refused: {self.reason}"


def check_input(tool, data) -> str | None:
    """Why `data` is not a valid input for `tool`, or None."""
    if not isinstance(data, dict):
        return f"input must be a JSON object, got {type(data).__name__}"
    errors = sorted(
        jsonschema.Draft202012Validator(tool.input_schema).iter_errors(data),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    if not errors:
        return None
    key, what = describe_error(errors[0])
    return f"{key}: {what}" if key else what


def refusal(verdict: Verdict) -> ToolResult:
    """The result a refused call gets: the reason, as an error the model can act on."""
    return ToolResult(verdict.reason, {"refused": True, "budget": verdict.budget}, is_error=True)


class ToolGuard:
    def __init__(self, tools: dict, ctx: ToolContext, budgets=None):
        self.tools, self.ctx, self.budgets = tools, ctx, budgets

    def verdict(self, name: str, data) -> Verdict:
        if name not in self.tools:
            return Verdict(False, f"unknown tool {name!r}; available: {', '.join(self.tools)}")
        if self.budgets is not None:
            spent = self.budgets.spent(self.ctx.state)
            if spent:
                return Verdict(False, spent, budget=True)
        tool = self.tools[name]
        problem = check_input(tool, data)
        if problem:
            return Verdict(False, f"invalid input for {name}: {problem}")
        if self.budgets is not None and tool.claims is not None:
            over = self.budgets.refuse(tool.claims(data), self.ctx.state)
            if over:
                return Verdict(False, over, budget=True)
        return Verdict(True)

    def check(self, name: str, data) -> Verdict:
        """The verdict on one call; every call counts against the tool-call budget, refused or not."""
        verdict = self.verdict(name, data)
        if self.budgets is not None:
            self.budgets.tool_calls += 1
        return verdict

    def run(self, name: str, data) -> tuple[ToolResult, float]:
        """(result, seconds) of an allowed call; never raises."""
        start = time.perf_counter()
        if self.budgets is not None:
            self.ctx.deadline = self.budgets.deadline()
        try:
            result = self.tools[name].run(self.ctx, **data)
        except ToolRefused as exc:
            result = ToolResult(f"refused: {exc}", {"refused": True}, is_error=True)
        except ForgeError as exc:
            result = ToolResult(f"error: {exc}", {"error": str(exc)}, is_error=True)
        except Exception as exc:  # a failing tool must not end the run; the model gets the error
            result = ToolResult(f"error: {type(exc).__name__}: {exc}", {"error": repr(exc)}, is_error=True)
        return result, round(time.perf_counter() - start, 3)


def execute(tool_guard: ToolGuard, transcript, call: ToolCall) -> ToolResult:
    """One call, as the loop and `forge tool run` make it: judged, run, and both recorded in the transcript."""
    verdict = tool_guard.check(call.name, call.input)
    transcript.write("tool_call", turn=call.turn, id=call.id, name=call.name, input=call.input, verdict=str(verdict))
    return finish_call(tool_guard, transcript, call, verdict)


def finish_call(
    tool_guard: ToolGuard,
    transcript,
    call: ToolCall,
    verdict: Verdict | None = None,
    note: dict | None = None,
    result: ToolResult | None = None,
) -> ToolResult:
    """Run an allowed call (or refuse it), or take the `result` given, then record it and apply its effect.
    Also finishes a call cut off by a crash (redone, or given an "interrupted" result)."""
    name, data = call.name, call.input
    seconds = 0.0
    if result is None:
        if verdict is None:
            raise ValueError("finish_call needs a verdict or a result")
        result, seconds = tool_guard.run(name, data) if verdict.allowed else (refusal(verdict), 0.0)
        if result.is_error and stop_signal.requested.is_set():  # cut short by SIGTERM/SIGHUP, not failed
            raise stop_signal.Interrupted(name)
    if name in tool_guard.tools:
        tool_guard.tools[name].apply(tool_guard.ctx.state, data, result)
    transcript.write(
        "tool_result",
        turn=call.turn,
        id=call.id,
        name=name,
        content=result.content,
        is_error=result.is_error,
        data=result.data,
        duration_s=seconds,
        **(note or {}),
    )
    tool_guard.ctx.echo(f"  {name} -> {'ERROR ' if result.is_error else ''}{first_line(result.content, 160)}")
    return result
