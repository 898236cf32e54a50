"""`augment`: targeted training examples, written through dedupe and the gold guard."""

from __future__ import annotations

from forge.curation.augment import augment
from forge.curation.datagen import generate
from forge.tools.tool import RunState, Tool, ToolContext, ToolRefused, ToolResult, obj, one_line_json, text


def run(ctx: ToolContext, n: int, focus: str | None = None) -> ToolResult:
    iteration = ctx.state.iteration
    if focus:
        why = ctx.project.gold_guard().check_planner_text(focus, "focus")
        if why:
            raise ToolRefused(why)
        reports, stopped = (
            [(focus, generate(ctx.project, n, focus=focus, source="augment", iteration=iteration))],
            False,
        )
    else:
        reports, stopped = augment(ctx.project, n, iteration=iteration, deadline=ctx.deadline)
    kept = sum(r.kept for _, r in reports)
    usd = sum(r.cost_usd for _, r in reports)
    rejected: dict[str, int] = {}
    for _, r in reports:
        for reason, k in r.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + k
    data = {
        "kept": kept,
        "rejected": rejected,
        "cost_usd": round(usd, 6),
        "source": reports[0][1].source if reports else None,
        "categories": [f for f, _ in reports],
        "stopped_early": stopped,
    }
    content = f"kept {kept} new examples; rejected {one_line_json(rejected)}; cost ${usd:.4f}"
    if stopped:
        content += (
            "\nthe time budget ran out: the categories not started were skipped; the examples already written are kept"
        )
    return ToolResult(content, data)


def effect(state: RunState, _input: dict, result: ToolResult) -> None:
    state.new_examples += result.data.get("kept", 0)
    state.cost_usd += result.data.get("cost_usd", 0.0)


TOOL = Tool(
    name="augment",
    description=(
        "Generate new training examples. Without `focus`, they target the categories of the last eval's "
        "failures, split evenly (you never see or copy gold examples; near-duplicates of gold are "
        "rejected). With `focus`, they target what you describe. Returns kept and rejected counts."
    ),
    input_schema=obj(
        {
            "n": {"type": "integer", "minimum": 1, "maximum": 500},
            "focus": text(400, "Optional: what the new examples should cover."),
        },
        required=["n"],
    ),
    run=run,
    effect=effect,
    claims=lambda data: {"new_examples": data.get("n", 0)},
    redo_on_resume=True,
)
