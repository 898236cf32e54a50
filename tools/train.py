"""`train`: one training run, starting an iteration (per-run hyper-parameter changes are `overrides`)."""

from __future__ import annotations

from forge.project.records import next_iteration
from forge.tools.config_keys import training_overrides_schema
from forge.tools.tool import RunState, Tool, ToolContext, ToolResult, obj, text
from forge.training.sft import train


def run(ctx: ToolContext, hypothesis: str, overrides: dict | None = None, epochs: int | None = None) -> ToolResult:
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    r = train(ctx.project, epochs=epochs, overrides=overrides, echo=ctx.echo, deadline=ctx.deadline)
    iteration = next_iteration(ctx.project)
    data = {"iteration": iteration, "backend": r.backend, "device": r.device, "method": r.method,
            "epochs_run": r.epochs_run, "epoch_losses": [round(x, 4) for x in r.epoch_losses],
            "final_loss": round(r.final_loss, 4), "examples": r.examples, "tokens_per_s": r.tokens_per_s,
            "wall_s": r.wall_s, "overrides": overrides}
    content = (f"iteration {iteration}: trained {r.method} on {r.examples} examples with {r.backend} on {r.device}; "
               f"{r.epochs_run} epochs, loss {r.epoch_losses[0]:.4f} -> {r.final_loss:.4f}. Run `eval` next.")
    return ToolResult(content, data)


def effect(state: RunState, tool_input: dict, result: ToolResult) -> None:
    if not result.is_error:
        state.iterations_run += 1
        state.iteration = result.data["iteration"]
        state.hypothesis, state.trained_since_eval = tool_input.get("hypothesis", ""), True


TOOL = Tool(
    name="train",
    description=("Train a new adapter on the current training set. This starts an iteration (train then eval) "
                 "and counts against the iteration budget. State the hypothesis this run tests. `overrides` "
                 "change training/LoRA hyper-parameters for this run only (use patch_config to make a change "
                 "permanent); `epochs` trains exactly that many epochs. If the time budget runs out mid-training, "
                 "the partial adapter is discarded and the previous one kept."),
    input_schema=obj({
        "hypothesis": text(300, "What this run tests and why you expect it to help.", min_length=3),
        "overrides": training_overrides_schema(),
        "epochs": {"type": "integer", "minimum": 1, "maximum": 20},
    }, required=["hypothesis"]),
    run=run, effect=effect, claims=lambda _input: {"iterations": 1}, redo_on_resume=True,
)
