"""`status`: read-only view of the project (scores, data sizes, iterations, budgets used)."""

from __future__ import annotations

from forge.project import status
from forge.tools.tool import Tool, ToolContext, ToolResult, obj


def run(ctx: ToolContext) -> ToolResult:
    data = {**status.collect(ctx.project), "root": "."}  # the model needs no absolute paths
    st = ctx.state
    data["run"] = {"iterations": st.iterations_run, "new_examples": st.new_examples, "budgets": ctx.budgets()}
    text = status.render(data) + f"\nThis run:    {st.iterations_run} iterations, {st.new_examples} examples added"
    if data["run"]["budgets"]:
        text += f"\nBudgets:     {status.budgets_text(data['run']['budgets'])}"
    return ToolResult(text, data)


TOOL = Tool(
    name="status",
    description="Where the project stands: best and last score, dataset sizes, iterations.",
    input_schema=obj({}),
    run=run,
)
