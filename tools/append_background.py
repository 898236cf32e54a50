"""`append_background`: add new domain knowledge to BACKGROUND.md (forge's original `background_additions`)."""

from __future__ import annotations

from forge.atomic import write_text_atomic
from forge.clock import now
from forge.locks import file_lock
from forge.project.records import BACKGROUND_FILE
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, obj, text

SECTION = "## Learned by the flywheel"
MAX_CHARS = 1500


def run(ctx: ToolContext, knowledge: str) -> ToolResult:
    why = ctx.project.gold_guard().check_planner_text(knowledge, "knowledge")
    if why:
        raise ToolRefused(why)
    path = ctx.project.root / BACKGROUND_FILE
    with file_lock(path):  # a person may be appending too
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if SECTION not in current:
            current = current.rstrip("\n") + f"\n\n{SECTION}\n"
        entry = f"\n- ({now()}, iter {ctx.state.iteration}) {knowledge.strip()}\n"
        write_text_atomic(path, current.rstrip("\n") + "\n" + entry)
    return ToolResult(
        f"appended {len(knowledge.strip())} characters to BACKGROUND.md under '{SECTION}'",
        {"chars": len(knowledge.strip())},
    )


TOOL = Tool(
    name="append_background",
    description=(
        "Append a short piece of new domain knowledge (a rule, an edge case, a correction) to "
        "BACKGROUND.md, which the data generator and you read in full. Write it as a fact about the "
        f"task, not about the model. At most {MAX_CHARS} characters."
    ),
    input_schema=obj(
        {"knowledge": text(MAX_CHARS, "The fact to add, in one or a few sentences.", min_length=10)},
        required=["knowledge"],
    ),
    run=run,
)
