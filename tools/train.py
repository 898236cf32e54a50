"""`train`: one training run, starting an iteration (per-run hyper-parameter changes are `overrides`)."""

from __future__ import annotations

from forge.project.records import next_iteration
from forge.result_lines import as_text
from forge.tools.config_keys import GRPO, training_overrides_schema
from forge.tools.tool import RunState, Tool, ToolContext, ToolResult, obj, text
from forge.training.entry import train

# Speed varies run to run and says nothing about the model: the planner is not shown it.
UNSHOWN = frozenset({"tokens_per_s", "wall_s"})


def run(
    ctx: ToolContext,
    hypothesis: str,
    overrides: dict | None = None,
    epochs: int | None = None,
    warm_start: str | None = None,
    grpo: dict | None = None,
) -> ToolResult:
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if warm_start:
        overrides["training"] = {**overrides.get("training", {}), "warm_start": warm_start}
    if grpo:
        overrides["grpo"] = grpo
    r = train(ctx.project, epochs=epochs, overrides=overrides, echo=ctx.echo, deadline=ctx.deadline)
    iteration = next_iteration(ctx.project)
    data = {
        "iteration": iteration,
        "method": "grpo" if r.grpo else r.method,
        "wall_s": r.wall_s,
        "overrides": overrides,
    }
    if r.grpo:
        data["grpo"] = r.grpo
    else:
        data.update(
            backend=r.backend,
            device=r.device,
            epochs_run=r.epochs_run,
            epoch_losses=[round(x, 4) for x in r.epoch_losses],
            final_loss=round(r.final_loss, 4) if r.final_loss is not None else None,
            examples=r.examples,
            tokens_per_s=r.tokens_per_s,
            warm_start=r.warm_start,
        )
    content = f"{as_text(r.lines(), UNSHOWN)}\niteration: {iteration}\nRun `eval` next."
    return ToolResult(content, data)


def effect(state: RunState, tool_input: dict, result: ToolResult) -> None:
    if not result.is_error:
        state.iterations_run += 1
        state.iteration = result.data["iteration"]
        state.hypothesis, state.trained_since_eval = tool_input.get("hypothesis", ""), True


TOOL = Tool(
    name="train",
    description=(
        "Train a new adapter on the current training set. This starts an iteration (train then eval) "
        "and counts against the iteration budget. State the hypothesis this run tests. `overrides` "
        "change training/LoRA hyper-parameters for this run only (use patch_config to make a change "
        "permanent); `epochs` trains exactly that many epochs. If the time budget runs out mid-training, "
        "the partial adapter is discarded and the previous one kept. `warm_start`: best continues the best "
        "adapter on the examples added since it was trained plus a replay sample (cheap, the default "
        "from training.warm_start); none trains a fresh adapter on everything (try it when warm starts "
        "stop improving). `overrides.training.method: grpo` instead continues the best adapter with "
        "reinforcement learning (its knobs in `grpo`): "
        "it samples `grpo.generations` answers per training prompt and rewards each with the project's "
        "scorer (partial credit per field with the call scorer, 0 outside the schema). It adds no data "
        "and can fix phrasing supervised training plateaus on, but each step costs several generations: "
        "on a CPU a few seconds per step for a 135M model. Try it after supervised runs stop beating "
        "the best; stop using it if an eval shows no gain."
    ),
    input_schema=obj(
        {
            "hypothesis": text(300, "What this run tests and why you expect it to help.", min_length=3),
            "overrides": training_overrides_schema(),
            "epochs": {"type": "integer", "minimum": 1, "maximum": 20},
            "warm_start": {"type": "string", "enum": ["best", "none"]},
            "grpo": obj(GRPO),
        },
        required=["hypothesis"],
    ),
    run=run,
    effect=effect,
    claims=lambda _input: {"iterations": 1},
    redo_on_resume=True,
)
