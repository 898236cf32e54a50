"""Run budgets (0 = no limit): iterations, tool calls, wall time, LLM cost in USD.

Checked before every model call and every tool call. The iteration budget refuses `train`
(in the tool) and ends the run once the last iteration is closed; the others end the run as
soon as they are spent, whatever the model asks for next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budgets:
    max_iterations: int = 0
    max_tool_calls: int = 0
    max_minutes: float = 0
    max_cost_usd: float = 0
    tool_calls: int = 0
    planner_cost_usd: float = 0.0
    elapsed_before_s: float = 0.0          # wall time of earlier segments of a resumed run
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def from_config(cls, agent_cfg, max_iterations: int, **overrides) -> Budgets:
        b = cls(max_iterations=max_iterations, max_tool_calls=agent_cfg.max_tool_calls,
                max_minutes=agent_cfg.max_minutes, max_cost_usd=agent_cfg.max_cost_usd)
        for k, v in overrides.items():
            if v is not None:
                setattr(b, k, v)
        return b

    def elapsed_s(self) -> float:
        return self.elapsed_before_s + time.monotonic() - self.started

    def cost(self, state) -> float:
        return self.planner_cost_usd + state.cost_usd

    def spent(self, state) -> str | None:
        """Why the run must stop now, or None."""
        if self.max_tool_calls and self.tool_calls >= self.max_tool_calls:
            return f"tool-call budget spent ({self.tool_calls}/{self.max_tool_calls})"
        if self.max_minutes and self.elapsed_s() >= 60 * self.max_minutes:
            return f"time budget spent ({self.elapsed_s() / 60:.1f}/{self.max_minutes:g} min)"
        if self.max_cost_usd and self.cost(state) >= self.max_cost_usd:
            return f"cost budget spent (${self.cost(state):.4f}/${self.max_cost_usd:g})"
        if (self.max_iterations and state.iterations >= self.max_iterations and not state.trained_since_eval
                and not state.evaluated_since_commit):
            return f"iteration budget spent ({state.iterations}/{self.max_iterations})"
        return None

    def snapshot(self, state) -> dict:
        return {"iterations": state.iterations, "max_iterations": self.max_iterations,
                "tool_calls": self.tool_calls, "max_tool_calls": self.max_tool_calls,
                "minutes": round(self.elapsed_s() / 60, 3), "max_minutes": self.max_minutes,
                "cost_usd": round(self.cost(state), 6), "max_cost_usd": self.max_cost_usd,
                "new_examples": state.new_examples}
