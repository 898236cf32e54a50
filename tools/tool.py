"""What a tool is: a name, a description for the model, an input JSON Schema and a run function.

One declaration feeds the Anthropic `tools` list, the guards and `forge tool ...`. A tool's run
function gets a ToolContext and the validated input, and returns a ToolResult: `content` is
what the model reads, `data` the structured record kept in the transcript. A precondition that
does not hold raises ToolRefused; the loop turns it into an `is_error` result. Tools read the
run state; they never change it: their declared `effect` does, applied by the loop from the
result alone, so a transcript rebuilds the same state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from forge.errors import ForgeError
from forge.project.project import Project
from forge.text import clip


class ToolRefused(ForgeError):
    """A tool's precondition does not hold (the model gets the reason and may try something else)."""


@dataclass
class ToolResult:
    content: str
    data: dict = field(default_factory=dict)
    is_error: bool = False


@dataclass
class RunState:
    """What the tools of one run share. Only the loop changes it, through each tool's `effect`,
    live and when a transcript is replayed for `--resume`, so both give the same state."""

    iterations_run: int = 0  # train calls that completed in this run
    iteration: int = 0  # the project-wide number of the current iteration
    hypothesis: str = ""
    trained_since_eval: bool = False
    evaluated_since_commit: bool = False
    new_examples: int = 0
    accuracy: float | None = None  # of the last eval in this run
    cost_usd: float = 0.0  # LLM spend by tools (data generation) in this run


@dataclass
class ToolContext:
    project: Project
    state: RunState = field(default_factory=RunState)
    run_id: str = "manual"
    deadline: float | None = None  # time.monotonic() by which a long tool must stop cleanly
    budgets: Callable[[], dict] = dict  # a read-only view of the run's budgets, for `status`
    echo: Callable[[str], None] = lambda _msg: None


@dataclass
class Tool:
    """One tool, declared once. `effect(state, input, result)` is the call's effect on the run;
    `claims(input)` what it would spend of a budget ({"iterations": 1}, {"new_examples": n});
    `redo_on_resume`: a call cut off by a crash is run again on `--resume` (safe to repeat); `available(project)`:
    whether an agent run on that project is offered the tool (None: always)."""

    name: str
    description: str
    input_schema: dict
    run: Callable[..., ToolResult]
    effect: Callable[[RunState, dict, ToolResult], None] | None = None
    claims: Callable[[dict], dict] | None = None
    redo_on_resume: bool = False
    available: Callable[[Project], bool] | None = None

    def api_param(self) -> dict:
        """The Anthropic `tools` entry."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def apply(self, state: RunState, tool_input: dict, result: ToolResult) -> None:
        if self.effect is not None:
            self.effect(state, tool_input, result)


def obj(properties: dict, required: Sequence[str] = ()) -> dict:
    """A closed JSON-Schema object (additionalProperties false)."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def text(max_length: int, description: str, min_length: int = 0) -> dict:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, "description": description}


FIELD_CHARS = 200  # failure fields shown to the model are clipped to this


def failure_view(row: dict) -> dict:
    """One eval failure as the model may see it: input, expected, actual, reason, each clipped."""
    return {k: clip(str(row.get(k, "")), FIELD_CHARS) for k in ("input", "expected", "actual", "reason")}


def failure_line(f: dict) -> str:
    return f"- input {f['input']!r} expected {f['expected']!r} got {f['actual']!r} ({f['reason']})"


def one_line_json(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
