"""`show_failures`: a bounded sample of the last eval's failures, optionally for one cmd."""

from __future__ import annotations

from forge.data.answers import category
from forge.project.records import FAILURES
from forge.tools.tool import Tool, ToolContext, ToolRefused, ToolResult, failure_line, failure_view, obj, text


def run(ctx: ToolContext, limit: int = 10, cmd: str | None = None) -> ToolResult:
    if not (ctx.project.output / FAILURES).exists():
        raise ToolRefused("no eval yet: call `eval` first")
    rows = ctx.project.read_jsonl_state(FAILURES)
    if cmd:
        rows = [r for r in rows if category(r["expected"]) == cmd]
    shown = [failure_view(r) for r in rows[:limit]]
    lines = [f"{len(rows)} failures" + (f" with expected cmd {cmd!r}" if cmd else "") + f"; showing {len(shown)}:"]
    lines += [failure_line(r) for r in shown]
    return ToolResult("\n".join(lines), {"count": len(rows), "shown": shown})


TOOL = Tool(
    name="show_failures",
    description="Show up to `limit` failures of the last eval (input, expected, actual, reason), optionally one cmd.",
    input_schema=obj(
        {
            "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            "cmd": text(100, "Only failures whose expected cmd is this."),
        }
    ),
    run=run,
)
