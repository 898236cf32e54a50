"""`sweep`: several training runs at once on Ray (compute.ray), each trained and evaluated; the best is installed
as the evaluated adapter for `promote`. Every run counts against the iteration budget."""

from __future__ import annotations

import math

from forge.project import context
from forge.result_lines import as_text
from forge.sweep.sweep import run_sweep
from forge.sweep.variants import plan
from forge.tools.config_keys import LORA, TRAINING
from forge.tools.tool import RunState, Tool, ToolContext, ToolRefused, ToolResult, obj, text

MAX_RUNS = 16  # configurations x seeds in one call
VARIED = {k: v for k, v in TRAINING.items() if k not in ("seed", "warm_start")}


def _values(schema) -> dict:
    return {"type": "array", "items": schema, "minItems": 1, "maxItems": 4}


def runs_of(tool_input: dict) -> int:
    sizes = [len(v) for section in (tool_input.get("vary") or {}).values() for v in section.values()]
    return math.prod(sizes) * int(tool_input.get("seeds", 1))


def run(
    ctx: ToolContext, hypothesis: str, vary: dict | None = None, seeds: int = 1, noise_floor: bool = False
) -> ToolResult:
    axes = [(f"{section}.{key}", values) for section, keys in (vary or {}).items() for key, values in keys.items()]
    runs = runs_of({"vary": vary, "seeds": seeds})
    if runs > MAX_RUNS:
        raise ToolRefused(f"{runs} runs: at most {MAX_RUNS} (configurations x seeds) in one sweep")
    if noise_floor and (axes or seeds < 3):
        raise ToolRefused("noise_floor measures one configuration: no `vary`, and seeds >= 3")
    result = run_sweep(
        ctx.project, plan(ctx.project, axes, seeds=seeds), noise_floor=noise_floor, echo=ctx.echo, deadline=ctx.deadline
    )
    context.update_context(ctx.project)  # the planner's view of the experiments, as after an eval
    best = result.best
    data = {
        "sweep": result.id,
        "trained": len(result.rows),
        "failed": sum(not r["ok"] for r in result.rows),
        "table": result.table,
        "iteration": best["iteration"] if best else None,
        "accuracy": best["accuracy"] if best else None,
        "cost_usd": sum(t["cost_usd"] for t in result.table),
        "noise_floor": result.noise_floor["spread"] if result.noise_floor else None,
    }
    tail = "Call `promote` if the best beats the best so far." if best else "No run finished: nothing to promote."
    return ToolResult(f"{as_text(result.lines())}\n{tail}", data)


def effect(state: RunState, tool_input: dict, result: ToolResult) -> None:
    if not result.is_error:
        state.iterations_run += result.data["trained"]
        state.cost_usd += result.data["cost_usd"]
        if result.data["iteration"] is not None:
            state.iteration, state.accuracy = result.data["iteration"], result.data["accuracy"]
            state.hypothesis = tool_input.get("hypothesis", "")
            state.trained_since_eval, state.evaluated_since_commit = False, True


TOOL = Tool(
    name="sweep",
    description=(
        "Train and evaluate several configurations at once on Ray (compute.ray), each a fresh adapter on the "
        "whole training set: `vary` lists the values of training/LoRA keys to try (a grid), `seeds` runs each "
        "configuration that many times. Returns per configuration the mean gold accuracy and its spread over "
        "seeds; the best configuration's median run is installed as the evaluated adapter, so `promote` takes "
        "it. Every run counts against the iteration budget. `noise_floor: true` with no `vary` and seeds >= 3 "
        "measures how much the score moves between seeds alone: promotions must then gain more than that."
    ),
    input_schema=obj(
        {
            "hypothesis": text(300, "What this sweep tests and why.", min_length=3),
            "vary": obj(
                {
                    "training": obj({k: _values(v) for k, v in VARIED.items()}),
                    "lora": obj({k: _values(v) for k, v in LORA.items()}),
                }
            ),
            "seeds": {"type": "integer", "minimum": 1, "maximum": 5},
            "noise_floor": {"type": "boolean"},
        },
        required=["hypothesis"],
    ),
    run=run,
    effect=effect,
    claims=lambda tool_input: {"iterations": runs_of(tool_input)},
    redo_on_resume=True,
    available=lambda project: project.config.compute.ray is not None,
)
