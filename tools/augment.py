"""`augment`: targeted training examples, written through dedupe and the gold guard."""

from __future__ import annotations

from forge.augment import augment
from forge.datagen import generate
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, compact, obj, text


def run(ctx: ToolContext, n: int, focus: str | None = None) -> ToolResult:
    st = ctx.state
    if ctx.max_new_examples:
        left = ctx.max_new_examples - st.new_examples
        if left <= 0:
            raise ToolRefused(f"example budget spent ({st.new_examples}/{ctx.max_new_examples})")
        if n > left:
            raise ToolRefused(f"n={n} is more than the {left} examples left in this run's budget")
    if focus:
        reports = [(focus, generate(ctx.project, n, focus=focus, source="augment", iteration=st.iteration))]
    else:
        reports = augment(ctx.project, n, iteration=st.iteration)
    kept = sum(r.kept for _, r in reports)
    usd = sum(r.cost_usd for _, r in reports)
    st.new_examples += kept
    st.cost_usd += usd
    rejected: dict[str, int] = {}
    for _, r in reports:
        for reason, k in r.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + k
    data = {"kept": kept, "rejected": rejected, "cost_usd": round(usd, 6), "source": reports[0][1].source,
            "categories": [f for f, _ in reports]}
    return ToolResult(f"kept {kept} new examples; rejected {compact(rejected)}; cost ${usd:.4f}", data)


TOOL = Tool(
    name="augment",
    description=("Generate new training examples. Without `focus`, they target the categories of the last eval's "
                 "failures (you never see or copy gold examples; near-duplicates of gold are rejected). With "
                 "`focus`, they target what you describe. Returns kept and rejected counts."),
    input_schema=obj({"n": {"type": "integer", "minimum": 1, "maximum": 500},
                      "focus": text(400, "Optional: what the new examples should cover.")}, required=["n"]),
    run=run,
)
