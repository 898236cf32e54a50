"""`status`: read-only view of the project (scores, data sizes, iterations, budgets used)."""

from __future__ import annotations

from forge import status
from forge.tools.tool import Tool, ToolContext, ToolResult, obj


def run(ctx: ToolContext) -> ToolResult:
    data = {**status.collect(ctx.project), "root": "."}  # the model needs no absolute paths
    st = ctx.state
    data["run"] = {"iterations": st.iterations, "max_iterations": ctx.max_iterations or None,
                   "new_examples": st.new_examples, "max_new_examples": ctx.max_new_examples or None}
    text = status.render(data) + (
        f"\nThis run:    {st.iterations} iterations, {st.new_examples} examples added")
    return ToolResult(text, data)


TOOL = Tool(name="status", description="Where the project stands: best and last score, dataset sizes, iterations.",
            input_schema=obj({}), run=run, read_only=True)
