"""The run context: one agent run as the loop works with it (Run), and how it ends (RunEnded, caught in one
place; Outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from forge.agent import conversation
from forge.agent.budgets import Budgets
from forge.agent.guards import ToolGuard
from forge.agent.planners import Planner
from forge.agent.transcript import Transcript

if TYPE_CHECKING:
    from forge.project.project import Project


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
    calibration: float = 1.0  # real prompt tokens / estimated, from the last reply
    overflows: int = 0
    cut_offs: int = 0  # replies in a row cut off by max_tokens
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
