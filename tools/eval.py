"""`eval`: evaluate the current adapter on the gold set; closes an iteration."""

from __future__ import annotations

from forge.evaluation.runner import run_eval
from forge.project import context, records
from forge.result_lines import as_text, fraction
from forge.tools.tool import RunState, Tool, ToolContext, ToolRefused, ToolResult, failure_line, failure_view, obj

FAILURE_SAMPLE = 8
# The planner never sees the sealed score (it would steer by it) nor the speed, which says nothing about the model.
UNSHOWN = frozenset({"sealed_accuracy", "examples_per_s"})


def run(ctx: ToolContext) -> ToolResult:
    project, st = ctx.project, ctx.state
    if not (project.adapter_dir).exists():
        raise ToolRefused("no trained adapter to evaluate: call `train` first")
    res = run_eval(project, echo=ctx.echo)
    sample = [failure_view(f) for f in project.read_jsonl_state(records.FAILURES)[:FAILURE_SAMPLE]]
    if st.trained_since_eval:
        records.record_experiment(
            project, run_id=ctx.run_id, iteration=st.iteration, hypothesis=st.hypothesis, results=res.as_record()
        )
    context.update_context(project)
    best = records.best(project)
    data = {
        "iteration": st.iteration,
        "accuracy": res.accuracy,
        "correct": res.correct,
        "total": res.total,
        "ci95": res.ci95,
        "per_cmd": res.per_cmd,
        "forbidden_count": res.forbidden_count,
        "failure_count": res.failure_count,
        "failure_sample": sample,
        "per_field": res.per_field,
        "constrained": res.constrained,
        "schema_valid": res.schema_valid,
        "best_so_far": best["accuracy"] if best else None,
        "target": project.config.eval.target_accuracy,
        **({"cost_usd": res.judge["cost_usd"]} if res.judge else {}),
        **({"cut": res.cut} if res.cut else {}),
    }
    if res.sealed:  # aggregates only, by construction of forge.evaluation.runner
        s = res.sealed
        data["sealed"] = {"accuracy": s["accuracy"], "correct": s["correct"], "total": s["total"], "ci95": s["ci95"]}
    best_text = fraction(best["accuracy"]) if best else "none"
    if records.crosses_gold_change(best, res.gold["hash"], records.schema_hash_of(res.as_record())):
        best_text += " (measured on another gold set or schema: not comparable; a person must accept the change)"
    per_cmd = ", ".join(f"{c} {v['correct']}/{v['total']}" for c, v in res.per_cmd.items())
    lines = [as_text(res.lines(), UNSHOWN)]
    lines += [f"best_so_far: {best_text}", f"target: {fraction(project.config.eval.target_accuracy)}"]
    lines += [f"per_cmd: {per_cmd}", f"failures: {res.failure_count}; sample:"]
    content = "\n".join(lines + [failure_line(f) for f in sample])
    return ToolResult(content, data)


def effect(state: RunState, _input: dict, result: ToolResult) -> None:
    if not result.is_error:
        state.accuracy = result.data["accuracy"]
        state.cost_usd += result.data.get("cost_usd", 0.0)  # the judge scorer's
        if state.trained_since_eval:
            state.trained_since_eval, state.evaluated_since_commit = False, True


TOOL = Tool(
    name="eval",
    description=(
        "Evaluate the current adapter on the locked gold set. Returns accuracy with its 95% confidence "
        "interval, per-cmd accuracy, and a small sample of failures (input, expected, actual, reason). "
        "Call it after every `train`; promote only if it beats the best so far."
    ),
    input_schema=obj({}),
    run=run,
    effect=effect,
    redo_on_resume=True,
)
