"""Every limit of a run, in one place (0 = no limit): iterations, tool calls, wall time, USD, new examples.

`spent` is checked before every model call and tool call and ends the run; `refuse` checks what
one tool call claims (a training run, n new examples) before it runs; `deadline` and
`seconds_left` carry the time budget into long tools and into each planner request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from forge.project.status import BUDGETS, LIMITS


@dataclass
class Budgets:
    max_iterations: int = 0
    max_tool_calls: int = 0
    max_minutes: float = 0
    max_cost_usd: float = 0
    max_new_examples: int = 0
    tool_calls: int = 0
    planner_cost_usd: float = 0.0
    elapsed_before_s: float = 0.0  # wall time of earlier segments of a resumed run
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def from_config(cls, agent_cfg, **overrides) -> Budgets:
        """The config's limits; an override that is not None wins (CLI flags)."""
        return cls(**{k: getattr(agent_cfg, k) for k in LIMITS})._overridden(overrides)

    @classmethod
    def from_record(cls, recorded: dict, spent: dict, **overrides) -> Budgets:
        """A recorded run's own limits (its run_start snapshot; absent ones: no limit) with what it has
        spent (lifecycle.rebuild); an override that is not None wins."""
        b = cls(**{k: recorded.get(k, 0) for k in LIMITS})._overridden(overrides)
        b.tool_calls, b.planner_cost_usd = spent["tool_calls"], spent["planner_cost_usd"]
        return b

    def _overridden(self, overrides: dict) -> Budgets:
        for k, v in overrides.items():
            if v is not None:
                setattr(self, k, v)
        return self

    def limits(self) -> dict:
        return {k: getattr(self, k) for k in LIMITS}

    def elapsed_s(self) -> float:
        return self.elapsed_before_s + time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        return None if not self.max_minutes else 60 * self.max_minutes - self.elapsed_s()

    def deadline(self) -> float | None:
        """time.monotonic() at which the time budget runs out."""
        left = self.seconds_left()
        return None if left is None else time.monotonic() + left

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
        if (
            self.max_iterations
            and state.iterations_run >= self.max_iterations
            and not state.trained_since_eval
            and not state.evaluated_since_commit
        ):
            return f"iteration budget spent ({state.iterations_run}/{self.max_iterations})"
        return None

    def refuse(self, claims: dict, state) -> str | None:
        """Why a call claiming these resources may not run, or None."""
        runs = claims.get("iterations", 0)
        if runs and self.max_iterations and state.iterations_run + runs > self.max_iterations:
            if state.iterations_run >= self.max_iterations:
                return f"iteration budget spent ({state.iterations_run}/{self.max_iterations}); no more training"
            return (
                f"{runs} training runs would pass the iteration budget ({state.iterations_run} of "
                f"{self.max_iterations} used)"
            )
        n = claims.get("new_examples", 0)
        if n and self.max_new_examples:
            left = self.max_new_examples - state.new_examples
            if left <= 0:
                return f"example budget spent ({state.new_examples}/{self.max_new_examples})"
            if n > left:
                return f"n={n} is more than the {left} examples left in this run's budget"
        return None

    def snapshot(self, state) -> dict:
        """Used and limit of each budget: {"iterations": 2, "max_iterations": 10, "tool_calls": ...}."""
        used = {
            "iterations": state.iterations_run,
            "tool_calls": self.tool_calls,
            "minutes": round(self.elapsed_s() / 60, 3),
            "cost_usd": round(self.cost(state), 6),
            "new_examples": state.new_examples,
        }
        return {
            key: value
            for name in BUDGETS
            for key, value in ((name, used[name]), (f"max_{name}", getattr(self, f"max_{name}")))
        }
