"""`eval`: evaluate the current adapter on the gold set; closes an iteration."""

from __future__ import annotations

from forge.evaluation.result import EvalResult
from forge.evaluation.runner import run_eval
from forge.project import context, records
from forge.tools.tool import RunState, Tool, ToolContext, ToolRefused, ToolResult, failure_line, failure_view, obj

FAILURE_SAMPLE = 8


def contract_line(res: EvalResult) -> str:
    """How the answers were decoded and how many kept the output schema (empty without a schema)."""
    if res.schema_valid is None:
        return ""
    how = "under the output schema" if res.constrained else "free (eval.constrained false)"
    line = f"decoded {how}: {res.schema_valid:.1%} schema-valid"
    free = res.free
    if free:
        line += f"; free decoding would score {free['accuracy']:.1%} ({free['schema_valid']:.1%} schema-valid)"
    return line + "\n"


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
    lo, hi = res.ci95
    best_text = f"{best['accuracy']:.1%}" if best else "none"
    if records.crosses_gold_change(best, res.gold["hash"], records.schema_hash_of(res.as_record())):
        best_text += " (measured on another gold set or schema: not comparable; a person must accept the change)"
    per_cmd = ", ".join(f"{c} {v['correct']}/{v['total']}" for c, v in res.per_cmd.items())
    content = (
        f"accuracy {res.accuracy:.1%} ({res.correct}/{res.total}, 95% CI {lo:.1%}-{hi:.1%}); "
        f"best so far {best_text}; "
        f"target {project.config.eval.target_accuracy:.1%}.\n{contract_line(res)}per cmd: {per_cmd}\n"
        + (f"wrong fields: {', '.join(f'{k} {n}' for k, n in res.per_field.items())}\n" if res.per_field else "")
        + (
            f"judge {res.judge['model']}: {res.judge['judged']} answers judged, {res.judge['cached']} from its "
            f"cache, {res.judge['errors']} judge errors (scored wrong), ${res.judge['cost_usd']:.4f}\n"
            if res.judge
            else ""
        )
        + (
            f"{res.cut} answers cut short at eval.max_new_tokens ({project.config.eval.max_new_tokens}): "
            "raise it (patch_config) if the answers need more tokens\n"
            if res.cut
            else ""
        )
        + f"{res.failure_count} failures; sample:\n"
        + "\n".join(failure_line(f) for f in sample)
    )
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
