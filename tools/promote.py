"""`promote`: make the evaluated adapter the new best (the engine's preconditions apply)."""

from __future__ import annotations

from forge.evaluation.promotion import PromotionRefused, promote
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, obj


def run(ctx: ToolContext) -> ToolResult:
    try:
        rec = promote(ctx.project, iteration=ctx.state.iteration or None)
    except PromotionRefused as exc:
        raise ToolRefused(str(exc)) from None
    cmp = rec["vs_previous"]
    noise = ""
    if cmp:
        noise = (
            f" vs previous best: +{cmp['only_new_correct']}/-{cmp['only_previous_correct']} examples, "
            f"McNemar p={cmp['p_value']:.3f}" + (" (could be noise)" if cmp["p_value"] > 0.05 else "")
        )
    return ToolResult(
        f"promoted {rec['path']} at {rec['accuracy']:.1%}.{noise}",
        {"path": rec["path"], "accuracy": rec["accuracy"], "vs_previous": cmp},
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
