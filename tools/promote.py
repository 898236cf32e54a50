"""`promote`: make the evaluated adapter the new best (the engine's preconditions apply)."""

from __future__ import annotations

from forge.evaluation.promotion import PromotionRefused, promote, promotion_lines
from forge.result_lines import as_text
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, obj


def run(ctx: ToolContext) -> ToolResult:
    try:
        rec = promote(ctx.project, iteration=ctx.state.iteration or None)
    except PromotionRefused as exc:
        raise ToolRefused(str(exc)) from None
    return ToolResult(
        as_text(promotion_lines(rec)),
        {"path": rec["path"], "accuracy": rec["accuracy"], "vs_previous": rec["vs_previous"]},
    )


TOOL = Tool(
    name="promote",
    description=(
        "Promote the current adapter to best. Refused unless it was evaluated and its accuracy is "
        "strictly above the best so far. Reports a paired significance test against the previous best."
    ),
    input_schema=obj({}),
    run=run,
)
