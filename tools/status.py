"""`status`: read-only view of the project (scores, data sizes, iterations, budgets used)."""

from __future__ import annotations

from forge import status
from forge.tools.tool import Tool, ToolContext, ToolResult, obj


def run(ctx: ToolContext) -> ToolResult:
    data = {**status.collect(ctx.project), "root": "."}  # the model needs no absolute paths
    st = ctx.state
    data["run"] = {"iterations": st.iterations_run, "new_examples": st.new_examples, "budgets": ctx.budgets()}
    text = status.render(data) + f"\nThis run:    {st.iterations_run} iterations, {st.new_examples} examples added"
    if data["run"]["budgets"]:
        b = data["run"]["budgets"]
        text += (f"\nBudgets:     iterations {b['iterations']}/{b['max_iterations'] or '-'}, "
                 f"tool calls {b['tool_calls']}/{b['max_tool_calls'] or '-'}, minutes {b['minutes']:.0f}/"
                 f"{b['max_minutes'] or '-'}, USD {b['cost_usd']}/{b['max_cost_usd'] or '-'}, "
                 f"new examples {b['new_examples']}/{b['max_new_examples'] or '-'}")
    return ToolResult(text, data)


TOOL = Tool(name="status", description="Where the project stands: best and last score, dataset sizes, iterations.",
            input_schema=obj({}), run=run)
