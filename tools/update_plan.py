"""`update_plan`: rewrite PLAN.md, the strategy and queue of hypotheses the planner keeps."""

from __future__ import annotations

from forge.project.records import write_plan
from forge.tools.tool import Tool, ToolContext, ToolResult, obj, text


def run(ctx: ToolContext, plan: str) -> ToolResult:
    write_plan(ctx.project, plan)
    return ToolResult(f"PLAN.md updated ({len(plan.strip())} characters)", {"chars": len(plan.strip())})


TOOL = Tool(
    name="update_plan",
    description="Replace PLAN.md: your strategy and the queue of hypotheses to test next (Markdown, short).",
    input_schema=obj({"plan": text(4000, "The whole new plan.", min_length=10)}, required=["plan"]),
    run=run,
)
